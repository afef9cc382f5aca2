package server

import (
	"encoding/json"

	"github.com/sirupsen/logrus"
)

// controlMux routes control messages (channel realtime_control, JSON objects with a "type")
// to their handler by type. Handlers run on the listener's goroutine and must not block.
type controlMux map[string]func(payload []byte)

// dispatch returns the listener's OnControl function. Control messages without a known type
// are logged and dropped.
func (m controlMux) dispatch(log logrus.FieldLogger) func([]byte) {
	return func(payload []byte) {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(payload, &head); err != nil {
			log.WithError(err).WithField("length", len(payload)).Warn("control: ignored a message that is not a JSON object")
			return
		}
		h := m[head.Type]
		if h == nil {
			log.WithField("type", head.Type).Debug("control: ignored a message of unknown type")
			return
		}
		h(payload)
	}
}
