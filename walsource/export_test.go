package walsource

import (
	"context"
	"fmt"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/realtimed/realtimed/database"
)

// StartReplication starts streaming slot on rc as the reader does.
var StartReplication = startReplication

// CrashAfterAppend streams the slot as an elected reader does and appends the transactions it
// decodes, one batch each, until at least n events are appended; then it drops its connections
// without ever confirming a position: a reader killed between append and confirm. It returns
// how many events it appended.
func CrashAfterAppend(ctx context.Context, cfg Config, n int) (int, error) {
	cfg = cfg.withDefaults()
	r := &Reader{cfg: cfg, log: cfg.Logger}
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer database.CloseConn(conn)
	registerLSN(conn)
	rc, err := r.start(ctx, conn)
	if err != nil {
		return 0, err
	}
	defer rc.Close(context.Background())
	var asm assembler
	events := 0
	for events < n {
		msg, err := rc.ReceiveMessage(ctx)
		if err != nil {
			return events, err
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		x, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return events, err
		}
		t, err := asm.feed(x.WALData)
		if err != nil {
			return events, err
		}
		if t == nil || len(t.events) == 0 {
			continue
		}
		res, err := appendBatch(ctx, conn, []*txn{t}, aheadRequest{})
		if err != nil {
			return events, fmt.Errorf("appending: %w", err)
		}
		events += res.events
	}
	return events, nil
}
