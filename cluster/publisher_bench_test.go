package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/internal/pgtest"
)

// Typing indicators travel between nodes as control messages. These benchmarks send b.N
// messages to a LISTENing connection and stop the clock when the last one has arrived:
// BenchmarkPublisher through the Publisher (batched realtime.notify_all from one goroutine),
// BenchmarkNotifyOneByOne, the baseline, with one pg_notify statement per message.
//
//	go test ./control -run XXX -bench . -benchtime 20000x

func BenchmarkPublisher(b *testing.B) {
	pool, conn := benchDB(b)
	p := cluster.NewPublisher(pool, cluster.PublisherConfig{QueueSize: b.N + 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for !p.Publish([]byte(fmt.Sprintf(`{"type":"typing","seq":%d}`, i))) {
			time.Sleep(time.Millisecond) // never happens with the queue sized to b.N
		}
	}
	drain(b, conn, b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func BenchmarkNotifyOneByOne(b *testing.B) {
	pool, conn := benchDB(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := pool.Exec(ctx, "SELECT pg_notify($1, $2)", cluster.DefaultChannel, fmt.Sprintf(`{"type":"typing","seq":%d}`, i)); err != nil {
			b.Fatal(err)
		}
	}
	drain(b, conn, b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func benchDB(b *testing.B) (*pgxpool.Pool, *pgx.Conn) {
	url := pgtest.NewDatabase(b)
	pool := pgtest.NewPool(b, url)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(context.Background(), "LISTEN "+cluster.DefaultChannel); err != nil {
		b.Fatal(err)
	}
	return pool, conn
}

func drain(b *testing.B, conn *pgx.Conn, n int) {
	for got := 0; got < n; got++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := conn.WaitForNotification(ctx)
		cancel()
		if err != nil {
			b.Fatalf("after %d of %d: %v", got, n, err)
		}
	}
}
