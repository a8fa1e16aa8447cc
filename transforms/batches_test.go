package transforms

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

func TestLogBatchCoder(t *testing.T) {
	t0 := time.Date(2014, 1, 2, 3, 4, 5, 678901000, time.UTC)
	for _, b := range []LogBatch{
		{},
		{Logs: []features.ProblemLog{{User: "u", TimeDone: t0, Exercise: "ex", ProblemType: "pt", ProblemNumber: 1, Correct: true}}},
		{Logs: []features.ProblemLog{
			{User: "u", TimeDone: t0.Add(time.Hour), Exercise: "ex,1", ProblemType: "", ProblemNumber: 7},
			{User: "u", TimeDone: t0, Exercise: "ex", ProblemType: "pt", ProblemNumber: -3, Correct: true},
			{User: "u", TimeDone: time.Unix(0, 0).UTC(), Exercise: "ex", ProblemType: "pt", ProblemNumber: 1 << 40},
		}},
		// The extremes a ProblemLog holds: features.TimeRange, any int.
		{Logs: []features.ProblemLog{
			{User: "u", TimeDone: time.Unix(0, math.MaxInt64).UTC(), Exercise: "ex", ProblemNumber: math.MaxInt, Correct: true},
			{User: "u", TimeDone: time.Unix(0, math.MinInt64).UTC(), Exercise: "ex", ProblemNumber: 1 << 62, Correct: true},
			{User: "u", TimeDone: t0, Exercise: "ex", ProblemNumber: math.MinInt},
		}},
	} {
		got, err := decodeLogBatch(encodeLogBatch(b))
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Logs) == 0 && len(got.Logs) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("round trip: got %+v, want %+v", got, b)
		}
	}
	// A count no data could hold: an error, not a 2^40-string allocation
	// (out of memory kills the worker; no recover catches it).
	for _, data := range [][]byte{{5, 1}, binary.AppendUvarint(nil, 1<<40)} {
		if _, err := decodeLogBatch(data); err == nil {
			t.Errorf("corrupt batch %x decoded without error", data)
		}
	}
}

func TestComponentCoder(t *testing.T) {
	c := features.DeriveComponent(features.ComponentKey{Exercise: "ex", ProblemType: "pt,1", Correct: true})
	got, err := decodeComponent(encodeComponent(c))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("round trip: %v", err)
	}
	if _, err := decodeComponent(encodeComponent(c)[:30]); err == nil {
		t.Error("truncated component decoded without error")
	}
	// A length of 2^61 floats: 8*n wraps to 0 bytes, which once read
	// "successfully" and then panicked in make.
	huge := binary.AppendUvarint(features.AppendComponentKey(nil, c.ComponentKey), 1<<61)
	if _, err := decodeComponent(huge); err == nil {
		t.Error("a component of 2^61 floats decoded without error")
	}
}

// TestEachStudent checks that a group's batches are split into whole
// students, in order of user id, each with its logs in arrival order.
func TestEachStudent(t *testing.T) {
	t0 := time.Date(2014, 1, 2, 3, 4, 5, 0, time.UTC)
	log := func(user string, n int) features.ProblemLog {
		return features.ProblemLog{User: user, TimeDone: t0.Add(time.Duration(n) * time.Minute), Exercise: "ex", ProblemNumber: n}
	}
	batches := []LogBatch{
		{Logs: []features.ProblemLog{log("b", 1), log("a", 1), log("b", 2)}},
		{},
		{Logs: []features.ProblemLog{log("c", 1), log("a", 2)}},
	}
	i := 0
	iter := func(b *LogBatch) bool {
		if i == len(batches) {
			return false
		}
		*b = batches[i]
		i++
		return true
	}
	var got []string
	err := eachStudent(iter, func(user string, logs []features.ProblemLog) error {
		s := user + ":"
		for _, l := range logs {
			if l.User != user {
				t.Errorf("student %s got a log of %s", user, l.User)
			}
			s += fmt.Sprint(l.ProblemNumber)
		}
		got = append(got, s)
		return nil
	})
	if want := []string{"a:12", "b:12", "c:1"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("students %v (%v), want %v", got, err, want)
	}

	// A student's error stops the split.
	i = 0
	calls := 0
	err = eachStudent(iter, func(string, []features.ProblemLog) error { calls++; return fmt.Errorf("no") })
	if err == nil || calls != 1 {
		t.Errorf("after an error: %v, %d calls", err, calls)
	}
}

func TestStudentGroup(t *testing.T) {
	seen := map[string]bool{}
	for i := range 20000 {
		g := StudentGroup(fmt.Sprintf("student_%07d", i))
		if g != StudentGroup(fmt.Sprintf("student_%07d", i)) {
			t.Fatal("StudentGroup is not a function of the user")
		}
		seen[g] = true
	}
	// 20,000 users fill all but about 1024·e^(-20000/1024) groups.
	if len(seen) < StudentGroups-1 {
		t.Errorf("20000 users fell in %d of %d groups", len(seen), StudentGroups)
	}
}
