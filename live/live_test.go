package live_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/live"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/score"
)

func at(minute int) time.Time { return time.Date(2014, 1, 1, 0, minute, 0, 0, time.UTC) }

func attempt(id string, minute int, exercise string, number int, correct bool) live.Attempt {
	return live.Attempt{ID: id, Log: features.ProblemLog{User: "ada", TimeDone: at(minute), Exercise: exercise,
		ProblemType: "p", ProblemNumber: number, Correct: correct}}
}

func TestAdmit(t *testing.T) {
	r := live.Record{Through: at(30), Recent: []live.Seen{{ID: "a", Time: at(30)}, {ID: "b", Time: at(25)}}}
	pending := []string{"c"}
	tests := []struct {
		name string
		a    live.Attempt
		want live.Verdict
	}{
		{"after the latest applied", attempt("d", 31, "x", 4, true), live.Wait},
		{"at the latest applied", attempt("d", 30, "y", 1, true), live.Wait},
		{"an applied id", attempt("b", 25, "x", 2, true), live.Duplicate},
		{"a pending id", attempt("c", 40, "x", 3, true), live.Duplicate},
		{"a redelivery after the horizon", attempt("z", 10, "x", 1, true), live.TooLate},
		{"out of order, within the horizon", attempt("e", 21, "x", 1, false), live.Now},
		{"no id is never a duplicate", attempt("", 40, "x", 3, true), live.Wait},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Admit(tc.a, pending, 10*time.Minute); got != tc.want {
				t.Errorf("Admit = %v, want %v", got, tc.want)
			}
		})
	}
	var zero live.Record
	if got := zero.Admit(attempt("a", 1, "x", 1, true), nil, 0); got != live.Wait {
		t.Errorf("a new student's first attempt: %v, want wait", got)
	}
}

func TestDue(t *testing.T) {
	pending := []live.Attempt{
		attempt("3", 5, "x", 2, true), attempt("1", 9, "x", 3, true), attempt("2", 2, "x", 1, false),
		attempt("5", 5, "a", 1, true), attempt("4", 5, "a", 1, true),
	}
	due, rest := live.Due(pending, at(5))
	var ids []string
	for _, a := range due {
		ids = append(ids, a.ID)
	}
	if want := []string{"2", "4", "5", "3"}; !slices.Equal(ids, want) {
		t.Errorf("due %v, want %v", ids, want)
	}
	if len(rest) != 1 || rest[0].ID != "1" {
		t.Errorf("rest %v, want attempt 1", rest)
	}
}

func testModel(t *testing.T, version string) *predict.Model {
	t.Helper()
	th := make([]float64, features.NumFeatures)
	for i := range th {
		th[i] = float64(i%7-3) / 10
	}
	m, err := predict.New(version, []model.ExerciseThetas{{Version: version, Exercise: "x", Thetas: th}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestApply checks that attempts applied in pieces, through the record's
// binary form, are scored as one replay of them all scores them.
func TestApply(t *testing.T) {
	m := testModel(t, "v1")
	var all []live.Attempt
	for i := range 12 {
		all = append(all, attempt(fmt.Sprint(i), i, "x", i+1, i%3 != 0))
	}
	want := score.NewStudent(m)
	var r live.Record
	for start := 0; start < len(all); start += 5 {
		data := r.AppendBinary(nil)
		var err error
		if r, err = live.ReadRecord(data); err != nil {
			t.Fatal(err)
		}
		err = r.Apply(all[start:min(start+5, len(all))], 3*time.Minute, []*predict.Model{m},
			func(a live.Attempt, p []score.Prediction, _ *score.Student) error {
				if w := want.Score(a.Log)[0]; p[0] != w {
					t.Errorf("attempt %s: %v, want %v", a.ID, p[0], w)
				}
				want.Apply(a.Log)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	if r.Through != at(11) {
		t.Errorf("through %v, want %v", r.Through, at(11))
	}
	var ids []string
	for _, s := range r.Recent {
		ids = append(ids, s.ID)
	}
	if want := []string{"8", "9", "10", "11"}; !slices.Equal(ids, want) {
		t.Errorf("remembered %v, want the ids within 3 minutes of the latest, %v", ids, want)
	}
}

func TestAttemptBinary(t *testing.T) {
	in := []live.Attempt{attempt("id-1", 3, "x", 7, true), {Log: features.ProblemLog{User: "u"}}, attempt("", 0, "ex", -2, false),
		{ID: "h", Log: features.ProblemLog{User: "v", Correct: true}, History: true}}
	var b []byte
	for _, a := range in {
		b = a.AppendBinary(b)
	}
	var out []live.Attempt
	for len(b) > 0 {
		a, rest, err := live.ReadAttempt(b)
		if err != nil {
			t.Fatal(err)
		}
		out, b = append(out, a), rest
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("read %v, want %v", out, in)
	}
	good := in[0].AppendBinary(nil)
	for n := range good {
		if _, _, err := live.ReadAttempt(good[:n]); err == nil {
			t.Errorf("an attempt cut to %d bytes read without error", n)
		}
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add(live.Record{Through: at(3), Recent: []live.Seen{{"a", at(2)}}, State: []byte{1, 2}}.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := live.ReadRecord(data)
		if err != nil {
			return
		}
		again, err := live.ReadRecord(r.AppendBinary(nil))
		if err != nil || !again.Through.Equal(r.Through) || len(again.Recent) != len(r.Recent) {
			t.Fatalf("a record that read once reads again as %+v, %v; want %+v", again, err, r)
		}
	})
}

func TestWaiting(t *testing.T) {
	var w live.Waiting
	if !w.None() {
		t.Fatal("the zero Waiting has attempts")
	}
	steps := []struct {
		a        live.Attempt
		changed  bool
		at, hold int
	}{
		{attempt("a", 20, "x", 2, true), true, 20, 20},   // the first sets when
		{attempt("b", 30, "x", 3, true), false, 20, 20},  // a newer one does not move it
		{attempt("", 10, "x", 1, true), true, 20, 10},    // an earlier one lowers the hold
		{attempt("c", 15, "y", 1, false), false, 20, 10}, // between: nothing changes
	}
	for i, s := range steps {
		if got := w.Add(s.a); got != s.changed || w.At != at(s.at).UnixMilli() || w.Hold != at(s.hold).UnixMilli() {
			t.Errorf("step %d: Add = %v, at %d hold %d; want %v, minutes %d and %d", i, got, w.At, w.Hold, s.changed, s.at, s.hold)
		}
	}
	if fmt.Sprint(w.IDs()) != "[a b c]" {
		t.Errorf("ids %v, want [a b c]", w.IDs())
	}
	st := live.State{Record: live.Record{Through: at(5), Recent: []live.Seen{{ID: "z", Time: at(5)}}, State: []byte{1, 2, 3}}, Waiting: w}
	back, err := live.ReadState(st.AppendBinary(nil))
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Errorf("ReadState(AppendBinary) = %+v, %v; want %+v", back, err, st)
	}
	full := st.AppendBinary(nil)
	for n := range len(full) {
		if _, err := live.ReadState(full[:n]); err == nil {
			t.Errorf("a State cut to %d of %d bytes decoded", n, len(full))
		}
	}
	after := live.WaitingOf([]live.Attempt{attempt("b", 30, "x", 3, true), attempt("", 25, "x", 2, true)})
	if after.At != at(30).UnixMilli() || after.Hold != at(25).UnixMilli() || fmt.Sprint(after.IDs()) != "[b]" {
		t.Errorf("WaitingOf = %+v: want at the latest, holding at the earliest, ids [b]", after)
	}
}

func TestAttemptsBinary(t *testing.T) {
	as := live.Attempts{attempt("a", 20, "x", 2, true), attempt("", 10, "y", 1, false)}
	b := as.AppendBinary(nil)
	back, err := live.ReadAttempts(b)
	if err != nil || !reflect.DeepEqual(back, as) {
		t.Errorf("ReadAttempts(AppendBinary) = %v, %v; want %v", back, err, as)
	}
	for n := range len(b) {
		if _, err := live.ReadAttempts(b[:n]); err == nil {
			t.Errorf("Attempts cut to %d of %d bytes decoded", n, len(b))
		}
	}
	if got := as.Earliest(); !got.Equal(at(10)) {
		t.Errorf("Earliest = %v, want minute 10", got)
	}
}
