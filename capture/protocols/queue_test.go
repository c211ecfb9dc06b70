package protocols

import (
	"slices"
	"testing"
)

func TestQueue(t *testing.T) {
	var q Queue[*int]
	vals := make([]int, 10)
	for i := range vals {
		vals[i] = i
	}
	for i := range 3 {
		q.Push(&vals[i])
	}
	if q.Len() != 3 || *q.Front() != 0 || *q.Back() != 2 {
		t.Fatalf("len %d front %d back %d, want 3, 0, 2", q.Len(), *q.Front(), *q.Back())
	}
	if v := q.Pop(); *v != 0 || *q.Front() != 1 {
		t.Fatalf("pop %d then front %d, want 0 then 1", *v, *q.Front())
	}
	var got []int
	for _, v := range q.Items() {
		got = append(got, *v)
	}
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("items %v, want [1 2]", got)
	}
	q.Pop()
	q.Pop()
	if q.Len() != 0 {
		t.Fatalf("len %d after popping everything", q.Len())
	}
	// Request, answer, request, answer...: the array is kept, nothing is allocated.
	if allocs := testing.AllocsPerRun(100, func() { q.Push(&vals[3]); q.Pop() }); allocs != 0 {
		t.Fatalf("%.1f allocations per push and pop on an empty queue, want 0", allocs)
	}
	q.Push(&vals[4])
	q.Push(&vals[5])
	q.Reset()
	if q.Len() != 0 {
		t.Fatalf("len %d after Reset", q.Len())
	}
	if allocs := testing.AllocsPerRun(100, func() { q.Push(&vals[6]); q.Reset() }); allocs != 0 {
		t.Fatalf("%.1f allocations per push after Reset, want 0", allocs)
	}
	q.Push(&vals[7])
	q.Release()
	if q.Len() != 0 || q.Items() != nil {
		t.Fatalf("Release left %d items", q.Len())
	}
}
