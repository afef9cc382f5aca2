package socketio

import (
	"encoding/json"
	"errors"

	"github.com/realtimed/realtimed/socketio/engineio"
)

// ConnectError refuses a connection to a namespace. A middleware returns it; the client's
// connect_error handler receives an Error whose message is Message and whose data is Data.
// The official client does not retry after a CONNECT_ERROR: use it for "your credentials are
// wrong", not for transient trouble.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return "socket.io: connect refused: " + e.Message }

func (e *ConnectError) payload() []byte {
	b, err := json.Marshal(struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{e.Message, e.Data})
	if err != nil {
		b, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{e.Message})
	}
	return b
}

// DisconnectReason says why a socket left its namespace. Values match Node's socket.io.
type DisconnectReason string

// Disconnect reasons. Engine-level reasons (transport close, ping timeout, …) are passed through.
const (
	ReasonClientDisconnect DisconnectReason = "client namespace disconnect"
	ReasonServerDisconnect DisconnectReason = "server namespace disconnect"
	ReasonTransportClose   DisconnectReason = DisconnectReason(engineio.CloseTransportClose)
	ReasonTransportError   DisconnectReason = DisconnectReason(engineio.CloseTransportError)
	ReasonParseError       DisconnectReason = DisconnectReason(engineio.CloseParseError)
	ReasonPingTimeout      DisconnectReason = DisconnectReason(engineio.ClosePingTimeout)
	ReasonForcedClose      DisconnectReason = DisconnectReason(engineio.CloseForced)
	ReasonServerShutdown   DisconnectReason = DisconnectReason(engineio.CloseServerShutdown)
	ReasonSlowConsumer     DisconnectReason = DisconnectReason(engineio.CloseSlowConsumer)
)

// ErrRetryLater, returned (or wrapped) by a middleware, refuses a connection for a transient
// reason: instead of a CONNECT_ERROR, which makes the official client give up, the connection
// is closed, so the client reconnects with its usual backoff.
var ErrRetryLater = errors.New("socket.io: try again later")
