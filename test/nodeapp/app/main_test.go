package main

import (
	"strings"
	"testing"
	"time"
)

func TestCheckRounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rounds   int
		interval time.Duration
		want     []string // parts of the error; none: no error
	}{
		{name: "one round", rounds: 1, interval: time.Second},
		{name: "until SIGTERM", rounds: 0, interval: 100 * time.Millisecond},
		{name: "negative rounds", rounds: -1, interval: time.Second, want: []string{"-rounds -1: must be 0 (until SIGTERM) or more"}},
		{name: "zero interval", rounds: 3, want: []string{"-interval 0s: must be positive"}},
		{name: "both", rounds: -2, interval: -time.Second, want: []string{"-rounds -2", "-interval -1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRounds(tc.rounds, tc.interval)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("checkRounds: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkRounds(%d, %s): no error, want %q", tc.rounds, tc.interval, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("checkRounds(%d, %s) = %q, want it to contain %q", tc.rounds, tc.interval, err, w)
				}
			}
		})
	}
}
