// Command psclient drives COM_STMT_PREPARE / COM_STMT_EXECUTE / COM_STMT_CLOSE, COM_PING and a
// transaction through github.com/go-sql-driver/mysql, for the parser's testdata pcaps.
package main

import (
	"database/sql"
	"fmt"
	"log"
	"os"

	_ "github.com/go-sql-driver/mysql"
)

func main() {
	dsn := os.Args[1] // audit:secret@tcp(127.0.0.1:13306)/shop?interpolateParams=false
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(db.Ping())
	_, err = db.Exec("DROP TABLE IF EXISTS items")
	must(err)
	_, err = db.Exec("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) UNIQUE, price DECIMAL(10,2), note TEXT)")
	must(err)
	ins, err := db.Prepare("INSERT INTO items (name, price, note) VALUES (?, ?, ?)")
	must(err)
	for i := 1; i <= 3; i++ {
		_, err = ins.Exec(fmt.Sprintf("item-%d", i), float64(i)*1.5, nil)
		must(err)
	}
	// Duplicate key: an ERR packet in answer to COM_STMT_EXECUTE.
	if _, err = ins.Exec("item-1", 9.99, "dup"); err == nil {
		log.Fatal("expected duplicate key error")
	}
	must(ins.Close())
	sel, err := db.Prepare("SELECT id, name, price, note FROM items WHERE id >= ? ORDER BY id")
	must(err)
	rows, err := sel.Query(2)
	must(err)
	n := 0
	for rows.Next() {
		n++
	}
	must(rows.Err())
	rows.Close()
	must(sel.Close())
	if n != 2 {
		log.Fatalf("rows %d", n)
	}
	// A prepare that fails.
	if _, err = db.Prepare("SELEC broken FROM"); err == nil {
		log.Fatal("expected syntax error")
	}
	// A transaction with a prepared update.
	tx, err := db.Begin()
	must(err)
	_, err = tx.Exec("UPDATE items SET price = price * ? WHERE id = ?", 2, 1)
	must(err)
	must(tx.Commit())
	must(db.Ping())
	must(db.Close())
}
