package realnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mongoLoad starts FerretDB and fills a 100-document catalog before any capture; a round is
// clients Go-driver connections, each made for the round and closed at its end, alternating
// an insert into an orders collection and a find with a filter and a projection on the catalog
// (n commands in all).
func mongoLoad(t TB, pair *Pair, clients int) loadProtocol {
	t.Helper()
	f := StartFerretDB(t, pair, FerretDBOptions{})
	ctx := t.Context()
	cl, err := f.Client(ctx)
	if err != nil {
		t.Fatalf("realnet: %v", err)
	}
	var docs []any
	for i := range 100 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "cat", Value: i % 10}, {Key: "name", Value: fmt.Sprintf("item %d", i)}, {Key: "price", Value: 1.5 * float64(i)}})
	}
	_, err = cl.Database(Database).Collection("catalog").InsertMany(ctx, docs)
	_ = cl.Disconnect(context.Background())
	if err != nil {
		t.Fatalf("realnet: ferretdb catalog: %v", err)
	}
	return loadProtocol{port: f.Port, first: 2000, most: 40000, round: func(round, n int) error {
		errs := make(chan error, clients)
		for c := range clients {
			go func() { errs <- mongoClientLoop(ctx, f, round*clients+c, max(1, n/clients)) }()
		}
		var err error
		for range clients {
			err = errors.Join(err, <-errs)
		}
		return err
	}}
}

// mongoClientLoop runs n commands on one new connection of client number id.
func mongoClientLoop(ctx context.Context, f *FerretDB, id, n int) error {
	cl, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	db := cl.Database(Database)
	orders, catalog := db.Collection("orders"), db.Collection("catalog")
	proj := options.Find().SetProjection(bson.D{{Key: "name", Value: 1}, {Key: "price", Value: 1}})
	for i := range n {
		if i%2 == 0 {
			if _, err := orders.InsertOne(ctx, bson.D{{Key: "client", Value: id}, {Key: "seq", Value: i}, {Key: "sku", Value: "item " + strings.Repeat("x", i%7)}, {Key: "qty", Value: i % 5}}); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			continue
		}
		cur, err := catalog.Find(ctx, bson.D{{Key: "cat", Value: i % 10}, {Key: "price", Value: bson.D{{Key: "$gte", Value: float64(i % 50)}}}}, proj)
		if err != nil {
			return fmt.Errorf("find: %w", err)
		}
		var got []bson.Raw
		if err := cur.All(ctx, &got); err != nil {
			return fmt.Errorf("find: %w", err)
		}
	}
	return nil
}

// Client connects the Go driver to the server from the pod namespace, with one connection and
// no retries. The caller disconnects it.
func (f *FerretDB) Client(ctx context.Context) (*mongo.Client, error) {
	opts := options.Client().ApplyURI("mongodb://" + f.Addr + "/?directConnection=true").
		SetDialer(nsDialer(f.pair.Dial)).SetMaxPoolSize(1).SetRetryWrites(false).SetRetryReads(false).
		SetServerSelectionTimeout(10 * time.Second)
	cl, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("ferretdb: connect: %w", err)
	}
	if err := cl.Ping(ctx, nil); err != nil {
		_ = cl.Disconnect(context.Background())
		return nil, fmt.Errorf("ferretdb: ping: %w", err)
	}
	return cl, nil
}

// nsDialer adapts Pair.Dial to the driver's dialer.
type nsDialer func(ctx context.Context, network, addr string) (net.Conn, error)

func (d nsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d(ctx, network, addr)
}
