// Drives PostgreSQL over the extended protocol for the pgsql parser's testdata:
// pgx's statement cache (named statements), raw pgproto3 for named portals, row limits,
// Close of statements and portals, re-Parse of the unnamed statement, a pipelined batch with
// an error in the middle, a failed Parse with no Execute, and a cancelled query.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

func drain(ctx context.Context, c *pgconn.PgConn) {
	for {
		m, err := c.ReceiveMessage(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("  <- %T\n", m)
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			return
		}
	}
}

func main() {
	ctx := context.Background()
	dsn := "postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable&application_name=pgxdrive"
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	mustExec := func(sql string, args ...any) {
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			log.Fatalf("%s: %v", sql, err)
		}
	}
	mustExec("DROP TABLE IF EXISTS items")
	mustExec("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)")
	for i := 1; i <= 3; i++ {
		mustExec("INSERT INTO items (id, name, price) VALUES ($1, $2, $3)", i, fmt.Sprintf("item-%d", i), i*10)
	}
	rows, _ := conn.Query(ctx, "SELECT id, name FROM items WHERE price > $1 ORDER BY id", 5)
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	fmt.Println("rows", n)
	// Unique violation through the cached statement.
	if _, err := conn.Exec(ctx, "INSERT INTO items (id, name, price) VALUES ($1, $2, $3)", 1, "dup", 1); err == nil {
		log.Fatal("expected a unique violation")
	}
	// Syntax error at Parse: pgx prepares (Parse/Describe/Sync) and fails before any Execute.
	if _, err := conn.Exec(ctx, "SELEC id FROM items WHERE id = $1", 1); err == nil {
		log.Fatal("expected a syntax error")
	}
	// A batch: several Executes before one Sync, the second fails, the third is skipped.
	b := &pgx.Batch{}
	b.Queue("UPDATE items SET price = price + 1 WHERE id = $1", 1)
	b.Queue("INSERT INTO items (id, name, price) VALUES ($1, $2, $3)", 2, "dup", 2)
	b.Queue("DELETE FROM items WHERE id = $1", 3)
	_ = conn.SendBatch(ctx, b).Close()

	pc := conn.PgConn()
	fe := pc.Frontend()
	// Named statement and named portal with a row limit: Execute twice, then Close both.
	fe.Send(&pgproto3.Parse{Name: "s_named", Query: "SELECT id, name FROM items ORDER BY id"})
	fe.Send(&pgproto3.Bind{DestinationPortal: "p_named", PreparedStatement: "s_named"})
	fe.Send(&pgproto3.Describe{ObjectType: 'P', Name: "p_named"})
	fe.Send(&pgproto3.Execute{Portal: "p_named", MaxRows: 2})
	fe.Send(&pgproto3.Execute{Portal: "p_named", MaxRows: 2})
	fe.Send(&pgproto3.Close{ObjectType: 'P', Name: "p_named"})
	fe.Send(&pgproto3.Close{ObjectType: 'S', Name: "s_named"})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		log.Fatal(err)
	}
	drain(ctx, pc)
	// Unnamed statement, parsed, executed, re-parsed with other text, executed again.
	fe.Send(&pgproto3.Parse{Query: "SELECT count(*) FROM items"})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Parse{Query: "SELECT name FROM items WHERE id = 2"})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		log.Fatal(err)
	}
	drain(ctx, pc)
	// Executing a closed statement fails at Bind; the Execute after it is skipped until Sync.
	fe.Send(&pgproto3.Bind{DestinationPortal: "p_gone", PreparedStatement: "s_named"})
	fe.Send(&pgproto3.Execute{Portal: "p_gone"})
	fe.Send(&pgproto3.Sync{})
	fe.Send(&pgproto3.Parse{Name: "s_again", Query: "SELECT 42"})
	fe.Send(&pgproto3.Bind{PreparedStatement: "s_again"})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		log.Fatal(err)
	}
	drain(ctx, pc)
	drain(ctx, pc)
	// A cancelled query: pgx sends a CancelRequest on a second connection.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = conn.Exec(cctx, "SELECT pg_sleep(3)")
	cancel()
	fmt.Println("cancel:", err)
	conn.Close(ctx)
	os.Exit(0)
}
