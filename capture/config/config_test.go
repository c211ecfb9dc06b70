package config

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	c.Kafka = Kafka{Brokers: []string{"kafka:9092"}, Topic: "audit"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Protocols) != len(Protocols) {
		t.Errorf("default has %d protocols, want every one of %v", len(c.Protocols), Protocols)
	}
}

func TestParse(t *testing.T) {
	valid := `{"version":1,"protocols":[{"name":"mysql","ports":[3306]}],"flows":true,"kafka":{"brokers":["k:9092"],"topic":"t"},"healthPort":15099,"kubernetes":{"namespace":"shop"}}`
	cases := []struct {
		name   string
		in     string
		fields []string // FieldError fields expected, in order
		errSub string   // for decode errors
	}{
		{name: "valid", in: valid},
		{name: "unknown field", in: strings.Replace(valid, `"flows"`, `"flow"`, 1), errSub: `unknown field "flow"`},
		{name: "trailing data", in: valid + `{}`, errSub: "trailing data"},
		{name: "not json", in: `version: 1`, errSub: "decode capture config"},
		{name: "port out of range for uint16", in: strings.Replace(valid, "3306", "70000", 1), errSub: "cannot unmarshal"},
		{name: "wrong version", in: strings.Replace(valid, `"version":1`, `"version":2`, 1), fields: []string{"version"}},
		{name: "every problem named", in: `{"version":1,"interfaces":["eth0/1"],"protocols":[{"name":"oracle","ports":[0]},{"name":"oracle"}],"kafka":{"brokers":["kafka"],"topic":"a b","tls":{"certFile":"c"},"sasl":{"mechanism":"GSSAPI"}},"healthPort":0}`,
			fields: []string{"interfaces[0]", "protocols[0].name", "protocols[0].ports[0]", "protocols[1].name", "protocols[1].name", "healthPort",
				"kafka.brokers[0]", "kafka.topic", "kafka.tls.caFile", "kafka.tls.certFile", "kafka.sasl.mechanism", "kafka.sasl.usernameEnv", "kafka.sasl.passwordEnv"}},
		{name: "port used by two protocols", in: strings.Replace(valid, `[{"name":"mysql","ports":[3306]}]`, `[{"name":"mysql","ports":[3306]},{"name":"pgsql","ports":[5432,3306]}]`, 1),
			fields: []string{"protocols[1].ports[1]"}},
		{name: "privacy", in: strings.Replace(valid, `"flows":true`, `"flows":true,"privacy":{"maxQueryLength":4096,"maskLiterals":true}`, 1)},
		{name: "negative query length", in: strings.Replace(valid, `"flows":true`, `"flows":true,"privacy":{"maxQueryLength":-1}`, 1),
			fields: []string{"privacy.maxQueryLength"}},
		{name: "http headers and bodies", in: strings.Replace(valid, `"flows":true`, `"flows":true,"privacy":{"httpHeaders":["Content-Type","x-request-id"],"httpBodyBytes":256}`, 1)},
		{name: "bad http header names and body size", in: strings.Replace(valid, `"flows":true`, `"flows":true,"privacy":{"httpHeaders":["ok","bad name",""],"httpBodyBytes":-1}`, 1),
			fields: []string{"privacy.httpHeaders[1]", "privacy.httpHeaders[2]", "privacy.httpBodyBytes"}},
		{name: "no protocols", in: strings.Replace(valid, `[{"name":"mysql","ports":[3306]}]`, `[]`, 1), fields: []string{"protocols"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in))
			switch {
			case tc.errSub != "":
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("err = %v, want %q", err, tc.errSub)
				}
			case len(tc.fields) == 0:
				if err != nil {
					t.Fatal(err)
				}
			default:
				if got := fieldsOf(err); strings.Join(got, " ") != strings.Join(tc.fields, " ") {
					t.Fatalf("fields named = %q, want %q\n%v", got, tc.fields, err)
				}
			}
		})
	}
}

func fieldsOf(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fieldsOf(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		out = append(out, fe.Field)
	}
	return out
}

func TestValidateBrokerAndTopic(t *testing.T) {
	for _, b := range []string{"kafka:9092", "10.0.0.1:1", "[::1]:9093", "k.example.com:65535"} {
		if err := ValidateBroker(b); err != nil {
			t.Errorf("ValidateBroker(%q) = %v", b, err)
		}
	}
	for _, b := range []string{"", "kafka", ":9092", "kafka:", "kafka:0", "kafka:65536", "kafka:9o92", "kafka:99999999999999999999"} {
		if err := ValidateBroker(b); err == nil {
			t.Errorf("ValidateBroker(%q) accepted", b)
		}
	}
	for _, topic := range []string{"audit", "audit.events_v1-x", strings.Repeat("a", 249)} {
		if err := ValidateTopic(topic); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", topic, err)
		}
	}
	for _, topic := range []string{"", ".", "..", "a b", "ü", strings.Repeat("a", 250)} {
		if err := ValidateTopic(topic); err == nil {
			t.Errorf("ValidateTopic(%q) accepted", topic)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"version":1,"protocols":[{"name":"mysql","ports":[3306]}],"flows":true,"kafka":{"brokers":["k:9092"],"topic":"t"},"healthPort":1,"kubernetes":{"namespace":"n"}}`)
	f.Add(`{}`)
	f.Add(`{"version":1,"kafka":{"tls":{},"sasl":{}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err == nil {
			// Whatever parses cleanly must validate again: Validate is deterministic.
			if err := c.Validate(); err != nil {
				t.Fatalf("parsed config fails validation: %v", err)
			}
		}
	})
}
