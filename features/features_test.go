package features

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestExerciseStateFeatures(t *testing.T) {
	ln := math.Log
	tests := []struct {
		name    string
		answers []bool
		want    [NumExerciseFeatures]float64
	}{
		{"nothing answered", nil, [6]float64{0.9, 0.9, 0, 0, 0, 0.8}},
		{"one wrong", []bool{false}, [6]float64{0.667 * 0.9, 0.9 * 0.9, 0, 0, ln(2), 0}},
		{"one right", []bool{true}, [6]float64{0.333 + 0.667*0.9, 0.1 + 0.9*0.9, 1, 0, 0, 1}},
		{"streak after a miss", []bool{true, false, true, true}, [6]float64{
			ewma(0.333, 1, 0, 1, 1), ewma(0.1, 1, 0, 1, 1), 2, ln(4), ln(2), 0.75}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s ExerciseState
			for _, a := range tt.answers {
				s.Update(a)
			}
			var got [NumExerciseFeatures]float64
			s.Features(got[:])
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-15 {
					t.Errorf("feature %s = %v, want %v", FeatureNames[i+1], got[i], tt.want[i])
				}
			}
		})
	}
}

// ewma folds answers oldest first from the seed, as Khan's model does.
func ewma(w float64, answers ...float64) float64 {
	e := EWMASeed
	for _, a := range answers {
		e = w*a + (1-w)*e
	}
	return e
}

// TestHistoryCap checks that only the last 20 answers count: after 5 misses
// and 25 right answers, the state is that of 20 right answers.
func TestHistoryCap(t *testing.T) {
	var capped, fresh ExerciseState
	for i := 0; i < 5; i++ {
		capped.Update(false)
	}
	for i := 0; i < 25; i++ {
		capped.Update(true)
	}
	for i := 0; i < HistoryLimit; i++ {
		fresh.Update(true)
	}
	var a, b [NumExerciseFeatures]float64
	capped.Features(a[:])
	fresh.Features(b[:])
	if a != b {
		t.Errorf("capped %v, want %v", a, b)
	}
	if capped.Len() != HistoryLimit || a[2] != HistoryLimit || a[3] != math.Log(HistoryLimit) || a[4] != 0 || a[5] != 1 {
		t.Errorf("features %v: want streak 20, log_num_done ln 20, log_num_missed 0, percent 1", a)
	}
	// A miss 19 answers ago still counts; one 20 ago does not.
	capped.Update(false)
	for i := 0; i < 19; i++ {
		capped.Update(true)
	}
	capped.Features(a[:])
	if a[4] != math.Log(2) || a[5] != 19.0/20 || a[2] != 19 {
		t.Errorf("after a miss 19 answers ago: %v", a)
	}
	capped.Update(true)
	capped.Features(a[:])
	if a[4] != 0 || a[5] != 1 {
		t.Errorf("after the miss left the history: %v", a)
	}
}

func log(user, ex string, minute, number int, correct bool) ProblemLog {
	return ProblemLog{User: user, TimeDone: time.Date(2014, 1, 1, 0, minute, 0, 0, time.UTC), Exercise: ex,
		ProblemType: "pt", ProblemNumber: number, Correct: correct}
}

func TestReplayStartsAboveOne(t *testing.T) {
	// A student whose history starts at problem 4 (earlier logs missing) is
	// kept: the first number may be any number. No component is added, since
	// no attempt is problem 1.
	c, _ := NewComponents(nil)
	logs := []ProblemLog{log("u", "ex", 1, 4, true), log("u", "ex", 2, 5, false), log("u", "ex", 3, 6, true)}
	var rows []Row
	err := Replay(logs, c, ReplayOptions{Window: DefaultWindow}, func(r *Row) { rows = append(rows, *r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ProblemNumber != 4 || rows[1].ProblemNumber != 5 {
		t.Fatalf("rows %v, want problems 4 and 5 (window 1-5)", rows)
	}
	if rows[0].X[3] != 0 || rows[1].X[3] != 1 { // current_streak before each
		t.Errorf("streaks %v %v", rows[0].X[3], rows[1].X[3])
	}
	for _, x := range rows[1].X[1+NumExerciseFeatures:] {
		if x != 0 {
			t.Fatal("KnowledgeState changed without a first problem")
		}
	}
}

func TestReplayGaps(t *testing.T) {
	c, _ := NewComponents(nil)
	logs := []ProblemLog{log("u", "a", 1, 1, true), log("u", "b", 2, 1, true), log("u", "a", 3, 3, true)}
	err := Replay(append([]ProblemLog(nil), logs...), c, ReplayOptions{Window: AllProblems}, func(*Row) { t.Error("a dropped student emitted a row") })
	var gap *GapError
	if !errors.As(err, &gap) || gap.Exercise != "a" || gap.From != 1 || gap.To != 3 {
		t.Fatalf("err %v, want a gap on a from 1 to 3", err)
	}
	n := 0
	if err := Replay(logs, c, ReplayOptions{Window: AllProblems, KeepGaps: true}, func(*Row) { n++ }); err != nil || n != 3 {
		t.Errorf("KeepGaps: %d rows, %v", n, err)
	}
}

// TestReplayTies checks that logs with the same time_done replay in the same
// order whatever order they arrive in.
func TestReplayTies(t *testing.T) {
	c, _ := NewComponents(nil)
	logs := []ProblemLog{
		log("u", "b", 1, 1, false), log("u", "a", 1, 1, true), log("u", "a", 1, 2, false),
		log("u", "c", 0, 1, true), log("u", "b", 2, 2, true),
	}
	var want []Row
	Replay(append([]ProblemLog(nil), logs...), c, ReplayOptions{Window: AllProblems}, func(r *Row) { want = append(want, *r) })
	order := [4]string{want[0].Exercise, want[1].Exercise, want[2].Exercise, want[3].Exercise}
	if order != [4]string{"c", "a", "a", "b"} {
		t.Errorf("order %v, want c a a b: ties by exercise then problem number", order)
	}
	// Every permutation gives the same rows.
	perm := []int{0, 1, 2, 3, 4}
	for k := 0; k < 120; k++ {
		shuffled := make([]ProblemLog, len(logs))
		for i, j := range perm {
			shuffled[i] = logs[j]
		}
		var got []Row
		Replay(shuffled, c, ReplayOptions{Window: AllProblems}, func(r *Row) { got = append(got, *r) })
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("permutation %v: row %d differs", perm, i)
			}
		}
		nextPermutation(perm)
	}
}

func nextPermutation(p []int) {
	i := len(p) - 2
	for i >= 0 && p[i] >= p[i+1] {
		i--
	}
	if i < 0 {
		return
	}
	j := len(p) - 1
	for p[j] <= p[i] {
		j--
	}
	p[i], p[j] = p[j], p[i]
	for a, b := i+1, len(p)-1; a < b; a, b = a+1, b-1 {
		p[a], p[b] = p[b], p[a]
	}
}

func TestParseWindow(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Window
		ok   bool
	}{
		{"1-5", Window{1, 5}, true}, {"all", AllProblems, true}, {"3", Window{3, 3}, true},
		{" 2 - 7 ", Window{2, 7}, true}, {"5-1", Window{}, false}, {"x", Window{}, false}, {"", Window{}, false},
	} {
		got, err := ParseWindow(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseWindow(%q) = %v, %v", tt.in, got, err)
		}
		if tt.ok {
			if back, _ := ParseWindow(got.String()); back != got {
				t.Errorf("%v does not round trip", got)
			}
		}
	}
}

func TestDeriveComponent(t *testing.T) {
	k := ComponentKey{"ex", "pt", true}
	a, b := DeriveComponent(k), DeriveComponent(k)
	var norm float64
	for i, v := range a.Vector {
		if v != b.Vector[i] {
			t.Fatal("not deterministic")
		}
		norm += v * v
	}
	if math.Abs(norm-1) > 1e-12 {
		t.Errorf("norm² %v, want 1", norm)
	}
	other := DeriveComponent(ComponentKey{"ex", "pt", false})
	var dot float64
	for i := range a.Vector {
		dot += a.Vector[i] * other.Vector[i]
	}
	if math.Abs(dot) > 0.5 {
		t.Errorf("keys differing in correct give nearly the same vector (dot %v)", dot)
	}
	// A pinned value, so that a change of the derivation cannot go unnoticed:
	// production tables hold vectors derived this way.
	if got := a.Vector[0]; math.Abs(got-pinnedFirst) > 1e-15 {
		t.Errorf("DeriveComponent(%v)[0] = %.17g, pinned %.17g", k, got, pinnedFirst)
	}
}

func TestNewComponentsConflict(t *testing.T) {
	a := DeriveComponent(ComponentKey{"ex", "pt", true})
	b := DeriveComponent(ComponentKey{"ex", "pt", false})
	b.ComponentKey = a.ComponentKey
	if _, err := NewComponents([]Component{a, b}); err == nil {
		t.Error("conflicting vectors for one key accepted")
	}
	if _, err := NewComponents([]Component{{ComponentKey: a.ComponentKey, Vector: []float64{1}}}); err == nil {
		t.Error("short vector accepted")
	}
	c, err := NewComponents([]Component{a, a})
	if err != nil || c.Len() != 1 {
		t.Errorf("duplicate identical component: %v", err)
	}
}

// pinnedFirst is DeriveComponent({ex, pt, true}).Vector[0] as first derived.
const pinnedFirst = 0.053156079752139436

// TestCompactRows checks that the compact form of every conformance row
// expands to exactly the features the replay computed, bit for bit.
func TestCompactRows(t *testing.T) {
	c, _ := NewComponents(nil)
	logs := []ProblemLog{}
	for i := 0; i < 60; i++ {
		logs = append(logs, log("u", string(rune('a'+i%7)), i, i/7+1, i%3 != 0))
	}
	n := 0
	err := Replay(logs, c, ReplayOptions{Window: AllProblems}, func(r *Row) {
		n++
		h, err := UnpackExerciseState(r.History.Pack())
		if err != nil || h != r.History {
			t.Fatalf("pack round trip: %v", err)
		}
		var vs [][]float64
		for _, k := range r.Knowledge {
			vs = append(vs, c.Vector(k))
		}
		var x [NumFeatures]float64
		ExpandFeatures(&h, vs, &x)
		if x != r.X {
			t.Fatalf("row %d: expanded features differ", n)
		}
	})
	if err != nil || n != 60 {
		t.Fatal(n, err)
	}
	for _, bad := range []uint32{21 << HistoryLimit, 1<<HistoryLimit | 0b10, 1 << 31} {
		if _, err := UnpackExerciseState(bad); err == nil {
			t.Errorf("UnpackExerciseState(%#x) accepted", bad)
		}
	}
}

func TestComponentKeying(t *testing.T) {
	logs := []ProblemLog{
		{User: "u", TimeDone: time.Unix(1, 0), Exercise: "e", ProblemType: "p1", ProblemNumber: 1, Correct: true},
		{User: "u", TimeDone: time.Unix(2, 0), Exercise: "f", ProblemType: "p2", ProblemNumber: 1, Correct: false},
	}
	for _, tt := range []struct {
		name string
		want []ComponentKey
	}{
		{"", []ComponentKey{{"e", "p1", true}, {"f", "p2", false}}},
		{KeyingProblemTypeName, []ComponentKey{{"e", "p1", true}, {"f", "p2", false}}},
		{KeyingExerciseName, []ComponentKey{{"e", "", true}, {"f", "", false}}},
	} {
		k, err := ParseComponentKeying(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := NewComponents(nil)
		c.Keying = k
		s := NewStudent(c)
		for _, l := range logs {
			s.Apply(l)
		}
		if !reflect.DeepEqual(s.Knowledge(), tt.want) {
			t.Errorf("keying %q: components %v, want %v", tt.name, s.Knowledge(), tt.want)
		}
	}
	if _, err := ParseComponentKeying("exercise"); err == nil {
		t.Error("an unknown keying was accepted")
	}
}

func TestTimeInRange(t *testing.T) {
	lo, hi := time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC), time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC)
	for _, c := range []struct {
		t  time.Time
		in bool
	}{
		{lo, true}, {hi, true}, {time.Date(2014, 1, 2, 3, 4, 5, 0, time.UTC), true},
		{lo.Add(-time.Nanosecond), false}, {hi.Add(time.Nanosecond), false},
		{time.Time{}, false}, {time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), false},
	} {
		if got := TimeInRange(c.t); got != c.in {
			t.Errorf("TimeInRange(%v) = %v", c.t, got)
		}
	}
	if want := lo.Format(time.RFC3339) + " to " + hi.Format(time.RFC3339); TimeRange != want {
		t.Errorf("TimeRange %q, want %q", TimeRange, want)
	}
}
