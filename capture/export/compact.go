package export

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// compactView is the part of an event the compact line shows. It is decoded from the JSON, not
// from event.Event, so lines are printed for events of other versions and protocols too.
type compactView struct {
	Timestamp time.Time `json:"@timestamp"`
	Type      string    `json:"type"`
	Status    string    `json:"status"`
	Method    string    `json:"method"`
	Query     string    `json:"query"`
	Event     struct {
		Duration int64     `json:"duration"`
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
	} `json:"event"`
	Source      endpointView `json:"source"`
	Destination endpointView `json:"destination"`
	URL         struct {
		Full     string `json:"full"`
		Original string `json:"original"`
	} `json:"url"`
	DNS struct {
		Question struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"question"`
		ResponseCode string `json:"response_code"`
	} `json:"dns"`
	Loss *struct {
		Events map[string]uint64 `json:"events"`
		Total  uint64            `json:"total"`
		Reason string            `json:"reason"`
	} `json:"loss"`
	Flow *struct {
		Final bool `json:"final"`
	} `json:"flow"`
	Kubernetes *struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name string `json:"name"`
		} `json:"pod"`
	} `json:"kubernetes"`
	Truncated *struct{} `json:"export_truncated"`
}

type endpointView struct {
	IP    string `json:"ip"`
	Port  uint16 `json:"port"`
	Bytes uint64 `json:"bytes"`
}

// Compact renders one JSON event as one line, in the spirit of `tetra getevents -o compact`:
// time, namespace/pod, type, status, duration, then what was asked (query, URL, DNS name) or,
// for flow and loss reports, their counts.
func Compact(raw []byte) (string, error) {
	var v compactView
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("not an event: %w", err)
	}
	pod := "-"
	if k := v.Kubernetes; k != nil && (k.Namespace != "" || k.Pod.Name != "") {
		pod = orDash(k.Namespace) + "/" + orDash(k.Pod.Name)
	}
	var what string
	switch {
	case v.Loss != nil:
		parts := make([]string, 0, len(v.Loss.Events))
		for _, typ := range slices.Sorted(maps.Keys(v.Loss.Events)) {
			parts = append(parts, fmt.Sprintf("%s=%d", typ, v.Loss.Events[typ]))
		}
		what = fmt.Sprintf("LOST %d events (%s) from %s to %s, reason %s", v.Loss.Total, strings.Join(parts, " "),
			v.Event.Start.UTC().Format(time.RFC3339Nano), v.Event.End.UTC().Format(time.RFC3339Nano), v.Loss.Reason)
	case v.Flow != nil:
		what = fmt.Sprintf("%s:%d -> %s:%d bytes %d/%d", v.Source.IP, v.Source.Port, v.Destination.IP, v.Destination.Port, v.Source.Bytes, v.Destination.Bytes)
		if v.Flow.Final {
			what += " final"
		}
	case v.Query != "":
		what = v.Query
	case v.URL.Full != "" || v.URL.Original != "":
		what = strings.TrimSpace(v.Method + " " + firstNonEmpty(v.URL.Full, v.URL.Original))
	case v.DNS.Question.Name != "":
		what = strings.TrimSpace(v.DNS.Question.Type + " " + v.DNS.Question.Name + " " + v.DNS.ResponseCode)
	default:
		what = v.Method
	}
	if v.Truncated != nil {
		what += " [truncated by exporter]"
	}
	return fmt.Sprintf("%s %s %s %s %s %s", v.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"), pod, orDash(v.Type),
		orDash(v.Status), duration(v.Event.Duration), oneLine(what)), nil
}

func duration(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// oneLine folds whitespace runs (newlines in statements) into single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
