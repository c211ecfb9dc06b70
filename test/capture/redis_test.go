package capture_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

const redisConfig = `{"version":1,"protocols":[{"name":"redis","ports":[6379]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099,"privacy":{"maxQueryLength":200}}`

// TestRedis drives a real redis-server from the pod namespace with redis-cli --pipe,
// redis-benchmark -P, a MULTI/EXEC block, an error, pub/sub and garbage bytes, while the sidecar
// captures live on the pod's veth and tcpdump writes a pcap of the same traffic.
func TestRedis(t *testing.T) {
	pair := realnet.NewPair(t)
	srv := realnet.StartRedis(t, pair, realnet.RedisOptions{})
	pcap := filepath.Join(t.TempDir(), "redis.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "tcp port 6379")
	sc := startSidecar(t, pair, redisConfig)

	const piped, benchN = 50, 160
	var pipe strings.Builder
	for i := range piped {
		k, v := "pk"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		fmt.Fprintf(&pipe, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	if out, err := srv.CLI(pipe.String(), "--pipe"); err != nil || !strings.Contains(out, "replies: "+strconv.Itoa(piped)) {
		t.Fatalf("redis-cli --pipe: %v\n%s", err, out)
	}
	if out, err := srv.Benchmark("-c", "1", "-n", strconv.Itoa(benchN), "-P", "16", "-t", "set,get", "-q"); err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	out, err := srv.CLI("MULTI\nSET acct 10\nINCRBY acct 5\nEXEC\nSET name bob\nINCR name\n")
	if err != nil || !strings.Contains(out, "15") || !strings.Contains(out, "ERR value is not an integer") {
		t.Fatalf("multi/exec and error: %v\n%s", err, out)
	}
	sub := srv.Command("SUBSCRIBE", "news")
	var subOut strings.Builder
	sub.Stdout = &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		n, _ := srv.CLI("", "PUBSUB", "NUMSUB", "news")
		if strings.Contains(n, "news\n1") || i == 49 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range []string{"one", "two", "three"} {
		if n, err := srv.CLI("", "PUBLISH", "news", m); err != nil || strings.TrimSpace(n) != "1" {
			t.Fatalf("publish: %q %v", n, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	_ = sub.Process.Kill()
	_ = sub.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sendGarbage(t, ctx, srv.Dial)

	live := sc.stop(t)
	stopOracle(t, dump)
	evs := transactions(live, event.TypeRedis)
	counts := map[string]int{}
	for _, ev := range evs {
		if ev.Error != nil {
			t.Errorf("decode note on %s %q: %s", ev.Method, ev.Query, ev.Error.Message)
		}
		counts[ev.Status+" "+ev.Method]++
	}
	t.Logf("%d redis events: %v", len(evs), counts)
	var pipedSets, benchSets, benchGets int
	for _, ev := range evs {
		switch {
		case strings.HasPrefix(ev.Query, "SET pk"):
			pipedSets++
		case strings.HasPrefix(ev.Query, "SET key:__rand_int__"):
			benchSets++
		case ev.Query == "GET key:__rand_int__":
			benchGets++
		}
	}
	if pipedSets != piped || benchSets != benchN || benchGets != benchN {
		t.Errorf("--pipe SETs %d (want %d), benchmark SETs %d and GETs %d (want %d each)", pipedSets, piped, benchSets, benchGets, benchN)
	}
	if ex := one(t, evs, "EXEC"); ex.Status != event.StatusOK || ex.Redis.ReturnValue != "[OK, 15]" {
		t.Errorf("EXEC: %s %q", ex.Status, ex.Redis.ReturnValue)
	}
	if q := one(t, evs, "INCRBY acct 5"); q.Redis.ReturnValue != "QUEUED" {
		t.Errorf("queued command: %q", q.Redis.ReturnValue)
	}
	if bad := one(t, evs, "INCR name"); bad.Status != event.StatusError || !strings.HasPrefix(bad.Redis.Error, "ERR value is not an integer") {
		t.Errorf("error reply: %s %q", bad.Status, bad.Redis.Error)
	}
	checkIdentity(t, one(t, evs, "SET name bob"), pair, 6379)
	if s := one(t, evs, "SUBSCRIBE news"); s.Redis.ReturnValue != "[subscribe, news, 1]" {
		t.Errorf("subscribe: %q", s.Redis.ReturnValue)
	}
	var msgs []string
	for _, ev := range find(evs, "MESSAGE news") {
		msgs = append(msgs, ev.Redis.ReturnValue)
	}
	if strings.Join(msgs, ",") != "one,two,three" {
		t.Errorf("messages %q, want one,two,three", msgs)
	}

	replayed := replay(t, pcap, redisConfig)
	if l, r := summary(evs), summary(transactions(replayed, event.TypeRedis)); strings.Join(l, "\n") != strings.Join(r, "\n") {
		t.Errorf("live and replay differ:\nlive   %q\nreplay %q", l, r)
	}

	// tshark's RESP dissector: the verb of every command array the client sent, counted.
	theirs := map[string]int{}
	for _, l := range tsharkFields(t, pcap, "-d", "tcp.port==6379,resp", "-Y", "resp && tcp.dstport == 6379",
		"-T", "fields", "-E", "separator=|", "-e", "resp.array.length", "-e", "resp.bulk_string.value") {
		lens, vals, _ := strings.Cut(l, "|")
		values := strings.Split(vals, ",")
		i := 0
		for _, n := range strings.Split(lens, ",") {
			k, err := strconv.Atoi(n)
			if err != nil || i >= len(values) {
				break
			}
			verb, _ := hex.DecodeString(values[i])
			theirs[strings.ToUpper(string(verb))]++
			i += k
		}
	}
	ours := map[string]int{}
	for _, ev := range evs {
		if ev.Method != "MESSAGE" { // delivered by the server, not a command
			ours[ev.Method]++
		}
	}
	if !maps.Equal(ours, theirs) {
		t.Errorf("command verbs differ from tshark's:\nours   %v\ntshark %v", ours, theirs)
	}
	t.Logf("tshark command verbs: %v", theirs)
}
