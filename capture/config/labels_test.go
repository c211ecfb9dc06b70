package config

import (
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "downward API rendering", in: "app=\"shop\"\napp.kubernetes.io/name=\"api\"\npod-template-hash=\"7d9f8b6c5\"\n",
			want: map[string]string{"app": "shop", "app.kubernetes.io/name": "api", "pod-template-hash": "7d9f8b6c5"}},
		{name: "escaped value and empty value", in: "note=\"a\\\"b=c\"\nempty=\"\"", want: map[string]string{"note": `a"b=c`, "empty": ""}},
		{name: "no equals", in: "app\n", wantErr: "labels line 1"},
		{name: "unquoted", in: "a=\"1\"\nb=2\n", wantErr: `labels line 2: value of "b"`},
		{name: "empty key", in: "=\"x\"", wantErr: "labels line 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLabels(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("label %q = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add("app=\"shop\"\nx=\"\\u00e9\"\n")
	f.Add("=\n\"")
	f.Fuzz(func(t *testing.T, in string) {
		labels, err := ParseLabels(strings.NewReader(in))
		if err == nil && labels == nil {
			t.Fatal("nil map without an error")
		}
	})
}
