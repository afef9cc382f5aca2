package cluster

import (
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func TestMuxRoutesByType(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	var got []string
	m := newMux(log)
	m.handle("a", func(p []byte) { got = append(got, "a:"+string(p)) })
	for _, p := range []string{`{"type":"a","x":1}`, `{"type":"b"}`, `not json`, `[1,2]`, ``} {
		m.dispatch([]byte(p))
	}
	if len(got) != 1 || got[0] != `a:{"type":"a","x":1}` {
		t.Fatalf("handled %q", got)
	}
	levels := map[logrus.Level]int{}
	for _, e := range hook.AllEntries() {
		levels[e.Level]++
	}
	if levels[logrus.DebugLevel] != 1 || levels[logrus.WarnLevel] != 3 {
		t.Fatalf("log levels %v: want one debug (unknown type) and three warnings (not objects)", levels)
	}
}
