package cluster

import (
	"encoding/json"
	"sync"

	"github.com/sirupsen/logrus"
)

// mux routes control messages (JSON objects with a "type") to their handler by type.
type mux struct {
	mu       sync.RWMutex
	handlers map[string]func(payload []byte)
	log      logrus.FieldLogger
}

func newMux(log logrus.FieldLogger) *mux {
	return &mux{handlers: map[string]func([]byte){}, log: log}
}

func (m *mux) handle(typ string, h func(payload []byte)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[typ] = h
}

// dispatch hands a control message to the handler of its type. Messages that are not JSON
// objects are logged and dropped; those of a type nobody handles are dropped (logged at debug:
// a newer node may send types this one does not know).
func (m *mux) dispatch(payload []byte) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		m.log.WithError(err).WithField("length", len(payload)).Warn("cluster: ignored a control message that is not a JSON object")
		return
	}
	m.mu.RLock()
	h := m.handlers[head.Type]
	m.mu.RUnlock()
	if h == nil {
		m.log.WithField("type", head.Type).Debug("cluster: ignored a control message of unknown type")
		return
	}
	h(payload)
}
