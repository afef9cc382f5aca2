package engineio

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
)

// CloseReason says why a connection closed. The strings match Node's engine.io where it has one.
type CloseReason string

// Close reasons passed to Handler.OnClose.
const (
	// CloseTransportClose: the client closed the connection or sent a close packet.
	CloseTransportClose CloseReason = "transport close"
	// CloseTransportError: an I/O error or a protocol violation by the client (overlapping
	// polling requests, an oversized or binary polling body, a write that timed out).
	CloseTransportError CloseReason = "transport error"
	// CloseParseError: the client sent a packet that could not be decoded.
	CloseParseError CloseReason = "parse error"
	// ClosePingTimeout: the client did not answer a ping within PingTimeout.
	ClosePingTimeout CloseReason = "ping timeout"
	// CloseForced: the server closed the connection (Conn.Close).
	CloseForced CloseReason = "forced close"
	// CloseServerShutdown: the server is shutting down.
	CloseServerShutdown CloseReason = "server shutting down"
	// CloseSlowConsumer: the client did not read fast enough and its send queue overflowed
	// Options.SendQueueLimit. Its pending messages were dropped.
	CloseSlowConsumer CloseReason = "slow consumer"
)

// ErrProtocolViolation is wrapped by the errors of closes caused by a client that broke the
// protocol (overlapping polling requests, an oversized or binary polling body, a message over
// maxPayload). Such closes, and those for CloseParseError, are logged at info level.
var ErrProtocolViolation = errors.New("engine.io: protocol violation")

// graceful reports whether queued packets are still delivered before the connection closes.
func (r CloseReason) graceful() bool { return r == CloseForced || r == CloseServerShutdown }

// Handshake error codes of the Engine.IO protocol, sent as {"code":N,"message":"…"}.
const (
	codeUnknownTransport   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

var codeMessages = map[int]string{
	codeUnknownTransport:   "Transport unknown",
	codeUnknownSID:         "Session ID unknown",
	codeBadHandshakeMethod: "Bad handshake method",
	codeBadRequest:         "Bad request",
	codeForbidden:          "Forbidden",
	codeUnsupportedVersion: "Unsupported protocol version",
}

// writeError answers a request the protocol refuses, as Node's engine.io does.
func writeError(w http.ResponseWriter, status, code int, message string) {
	if message == "" {
		message = codeMessages[code]
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// RequestError refuses a handshake from Options.AllowRequest with a status of its own.
type RequestError struct {
	Status     int           // HTTP status, e.g. http.StatusTooManyRequests
	Message    string        // sent in the body's message
	RetryAfter time.Duration // when positive, sent as Retry-After (whole seconds, rounded up)
}

func (e *RequestError) Error() string { return e.Message }

// refusalStatus is the HTTP status writeRefusal answers err with.
func refusalStatus(err error) int {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Status
	}
	return http.StatusForbidden
}

// writeRefusal answers a handshake that AllowRequest refused.
func writeRefusal(w http.ResponseWriter, err error) {
	var re *RequestError
	if !errors.As(err, &re) {
		writeError(w, http.StatusForbidden, codeForbidden, err.Error())
		return
	}
	if re.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(re.RetryAfter.Seconds()))))
	}
	writeError(w, re.Status, codeForbidden, re.Message)
}
