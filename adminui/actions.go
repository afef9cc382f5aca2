package adminui

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
)

// What the UI may do. instrument() lets it emit any event to any socket, make sockets join any
// room, leave any room and disconnect. Here:
//
//   - disconnect a socket (by id), or every socket in a room (a user's devices: user:<id>; a
//     chat's members: chat:<id>): allowed. A disconnect without a target (every socket of the
//     namespace) is refused.
//   - make a socket, or every socket, leave a room: allowed for the rooms Leaver.MayLeave
//     accepts (chat rooms: what realtime.revoke_chat_member does); never a user:<id> room,
//     without which a socket would stay connected but receive nothing.
//   - join and emit: refused. Joining a room by name would bypass the membership check of
//     room:join (a socket could read any chat), and emitting would let anyone with the UI's
//     password forge the application's events.
//
// With ReadOnly nothing is allowed. Every action is logged at info.

// Leaver decides which rooms the UI may take sockets out of, and takes them out (the
// application's side of a leave: e.g. ending typing indicators).
type Leaver interface {
	// MayLeave reports whether the UI may take sockets out of room.
	MayLeave(room string) bool
	// Leave takes s out of room.
	Leave(s *socketio.Socket, room string)
}

// action is the control message that carries a UI's action to every node.
type action struct {
	Type string `json:"type"`
	Op   string `json:"op"` // opDisconnect or opLeave
	Nsp  string `json:"nsp"`
	// Target is a socket id or a room; for a leave, empty means every socket in Room.
	Target string `json:"target,omitempty"`
	Room   string `json:"room,omitempty"`
	Close  bool   `json:"close,omitempty"`
}

const (
	opDisconnect = "disconnect"
	opLeave      = "leave"
	// maxName bounds a room name or socket id in an action.
	maxName = 512
)

var errNotAllowed = errors.New("not allowed")

// features are the UI's supportedFeatures for this configuration.
func (ui *UI) features() []string {
	f := []string{}
	if !ui.cfg.ReadOnly {
		f = append(f, "DISCONNECT", "MDISCONNECT")
		if ui.cfg.Leaver != nil {
			f = append(f, "LEAVE", "MLEAVE")
		}
	}
	// ALL_EVENTS shows the pages of sockets, rooms, clients and events; AGGREGATED_EVENTS the
	// dashboard's charts and counts from server_stats.
	return append(f, "AGGREGATED_EVENTS", "ALL_EVENTS")
}

// registerActions sets the handlers of the UI's actions on the admin namespace.
func (ui *UI) registerActions(ns *socketio.Namespace) {
	ns.On("_disconnect", func(s *socketio.Socket, e *socketio.Event) {
		var (
			nsp, target string
			closeConn   bool
		)
		err := decodeArgs(e.Args, &nsp, &closeConn, &target)
		ui.act(s, action{Op: opDisconnect, Nsp: nsp, Target: target, Close: closeConn}, err)
	})
	ns.On("leave", func(s *socketio.Socket, e *socketio.Event) {
		var nsp, room, target string
		err := decodeArgs(e.Args, &nsp, &room, &target)
		ui.act(s, action{Op: opLeave, Nsp: nsp, Room: room, Target: target}, err)
	})
	for _, name := range []string{"join", "emit"} {
		ns.On(name, func(s *socketio.Socket, e *socketio.Event) {
			ui.hub.logAction(s, "action refused", logrus.Fields{"action": name, "error": errNotAllowed.Error()})
		})
	}
}

// decodeArgs reads an event's leading arguments into dst; missing or null ones stay zero.
func decodeArgs(args []json.RawMessage, dst ...any) error {
	for i, d := range dst {
		if i >= len(args) || string(args[i]) == "null" {
			continue
		}
		if err := json.Unmarshal(args[i], d); err != nil {
			return errors.New("malformed arguments")
		}
	}
	return nil
}

// act checks an action and sends it to every node (this one included).
func (ui *UI) act(s *socketio.Socket, a action, err error) {
	fields := logrus.Fields{"action": a.Op, "nsp": a.Nsp, "target": a.Target, "room": a.Room, "close": a.Close}
	if err == nil {
		err = ui.allowed(a)
	}
	if err != nil {
		fields["error"] = err.Error()
		ui.hub.logAction(s, "action refused", fields)
		return
	}
	a.Type = msgAction
	b, _ := json.Marshal(a)
	if !ui.cfg.Cluster.Publish(b) {
		ui.hub.logAction(s, "action not sent (control channel full)", fields)
		return
	}
	ui.hub.logAction(s, "action", fields)
}

// allowed applies the policy above.
func (ui *UI) allowed(a action) error {
	switch {
	case ui.cfg.ReadOnly:
		return errors.New("the Admin UI is read-only")
	case a.Op != opDisconnect && a.Op != opLeave:
		return errors.New("unknown action")
	case !slices.Contains(ui.cfg.Namespaces, a.Nsp):
		return errors.New("unknown namespace")
	case len(a.Target) > maxName || len(a.Room) > maxName:
		return errors.New("name too long")
	case a.Op == opDisconnect && a.Target == "":
		return errors.New("disconnecting every socket is not allowed")
	case a.Op == opLeave && (ui.cfg.Leaver == nil || a.Room == "" || !ui.cfg.Leaver.MayLeave(a.Room)):
		return errors.New("sockets may not be taken out of this room")
	}
	return nil
}

// onAction carries out an action sent by a UI on any node, for this node's sockets, on a
// goroutine of its own (a leave may write the recovery session).
func (ui *UI) onAction(payload []byte) {
	var a action
	if err := json.Unmarshal(payload, &a); err != nil || ui.allowed(a) != nil {
		ui.log.WithField("length", len(payload)).Warn("admin ui: ignored a malformed or disallowed action")
		return
	}
	go ui.apply(a)
}

func (ui *UI) apply(a action) {
	ns := ui.cfg.App.Of(a.Nsp)
	var targets []*socketio.Socket
	if a.Target == "" {
		targets = ns.Sockets(a.Room)
	} else if s := ns.Socket(a.Target); s != nil {
		targets = []*socketio.Socket{s}
	} else {
		targets = ns.Sockets(a.Target)
	}
	for _, s := range targets {
		switch a.Op {
		case opDisconnect:
			s.Disconnect(a.Close)
		case opLeave:
			if slices.Contains(s.Rooms(), a.Room) {
				ui.cfg.Leaver.Leave(s, a.Room)
			}
		}
	}
	if len(targets) > 0 {
		ui.log.WithFields(logrus.Fields{"action": a.Op, "target": a.Target, "room": a.Room, "sockets": len(targets)}).
			Info("admin ui: action carried out")
	}
}
