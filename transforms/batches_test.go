package transforms

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/train"
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
	if _, err := decodeLogBatch([]byte{5, 1}); err == nil {
		t.Error("corrupt batch decoded without error")
	}
}

// randomRows replays random students and returns their rows of one exercise.
func randomRows(n int, seed uint64) []features.Row {
	return randomRowsOf(n, seed, features.Khan2014)
}

// randomRowsOf is randomRows for a feature set.
func randomRowsOf(n int, seed uint64, set features.FeatureSet) []features.Row {
	r := rand.New(rand.NewPCG(seed, 1))
	comps, _ := features.NewComponents(nil)
	var rows []features.Row
	for u := 0; len(rows) < n; u++ {
		var logs []features.ProblemLog
		next := map[string]int{}
		for i := 0; i < 40; i++ {
			ex := []string{"ex", "a", "b", "c"}[r.IntN(4)]
			next[ex]++
			logs = append(logs, features.ProblemLog{User: fmt.Sprint("u", u), TimeDone: time.Unix(int64(i), 0).UTC(),
				Exercise: ex, ProblemType: fmt.Sprint("pt", r.IntN(3)), ProblemNumber: next[ex], Correct: r.IntN(3) > 0})
		}
		features.Replay(logs, comps, features.ReplayOptions{Window: features.AllProblems, Features: set}, func(row *features.Row) {
			if row.Exercise == "ex" && len(rows) < n {
				c := *row
				c.Knowledge = append([]features.ComponentKey(nil), row.Knowledge...)
				rows = append(rows, c)
			}
		})
	}
	return rows
}

// batches puts rows into batches of the given sizes, in the given order.
func batches(rows []features.Row, order []int, sizes ...int) []RowBatch {
	return batchesOf(features.Khan2014, rows, order, sizes...)
}

// batchesOf is batches for a feature set.
func batchesOf(set features.FeatureSet, rows []features.Row, order []int, sizes ...int) []RowBatch {
	var out []RowBatch
	k := 0
	for _, size := range sizes {
		b := RowBatch{Extended: set == features.Extended}
		for i := 0; i < size; i++ {
			b.Add(&rows[order[k]])
			k++
		}
		b.ids, b.lastKnowledge, b.lastIDs, b.types = nil, nil, nil, nil
		out = append(out, b)
	}
	return out
}

func TestRowBatchCoder(t *testing.T) {
	for _, set := range []features.FeatureSet{features.Khan2014, features.Extended} {
		rows := randomRowsOf(13, 1, set)
		b := batchesOf(set, rows, rand.New(rand.NewPCG(1, 2)).Perm(13), 13)[0]
		if set == features.Extended && (len(b.Extras) != 13*features.NumStudentExtras || len(b.ProblemTypes) == 0) {
			t.Fatalf("extended batch without its extras: %+v", b)
		}
		got, err := decodeRowBatch(encodeRowBatch(b))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("%s: round trip changed the batch:\n%+v\n%+v", set, got, b)
		}
		enc := encodeRowBatch(b)
		for _, cut := range []int{1, 20, len(enc) - 1} {
			if _, err := decodeRowBatch(enc[:cut]); err == nil {
				t.Errorf("%s: batch cut at %d decoded without error", set, cut)
			}
		}
	}
}

// TestCollectRowsCap checks that the row cap keeps the same rows, in the
// same order, however the rows arrive, and that they expand to exactly the
// features the replay computed.
func TestCollectRowsCap(t *testing.T) {
	const n = 1000
	rows := randomRows(n, 2)
	comps, _ := features.NewComponents(nil)
	identity := make([]int, n)
	for i := range identity {
		identity[i] = i
	}
	r := rand.New(rand.NewPCG(3, 4))
	orders := [][]RowBatch{
		batches(rows, identity, n),
		batches(rows, r.Perm(n), 1, 998, 1),
		batches(rows, r.Perm(n), 300, 300, 400),
		batches(rows, r.Perm(n), 250, 250, 250, 250),
	}
	type labelled struct {
		x       [features.NumFeatures]float64
		correct bool
	}
	replayed := map[labelled]int{}
	for _, row := range rows {
		replayed[labelled{row.X, row.Correct}]++
	}
	for _, cap := range []int{0, 1, 100, 499, 500, 999, 1000, 5000} {
		var first *train.Dataset
		for i, bs := range orders {
			c := newRowCollector(cap)
			for it := testutil.Iter(bs...); ; {
				var b RowBatch
				if !it(&b) {
					break
				}
				c.add(&b)
			}
			d, _, err := c.dataset(comps)
			if err != nil {
				t.Fatal(err)
			}
			want := n
			if cap > 0 && cap < want {
				want = cap
			}
			if c.seen != n || d.Len() != want {
				t.Fatalf("cap %d: seen %d, kept %d, want %d", cap, c.seen, d.Len(), want)
			}
			left := maps.Clone(replayed)
			for k := 0; k < d.Len(); k++ {
				l := labelled{correct: d.Correct(k)}
				copy(l.x[:], d.Row(k))
				if left[l]--; left[l] < 0 {
					t.Fatalf("cap %d: row %d is not a replayed row", cap, k)
				}
			}
			if first == nil {
				first = d
				continue
			}
			for k := 0; k < d.Len(); k++ {
				if !reflect.DeepEqual(d.Row(k), first.Row(k)) || d.Correct(k) != first.Correct(k) {
					t.Fatalf("cap %d, order %d: row %d differs", cap, i, k)
				}
			}
			// The fit sees the same Dataset, factored or not, bit for bit.
			theta := make([]float64, d.Dim())
			for j := range theta {
				theta[j] = math.Sin(float64(j))
			}
			ga, gb := make([]float64, len(theta)), make([]float64, len(theta))
			la := (&train.Objective{Data: d, L2: 1e-3}).FuncGrad(ga, theta)
			lb := (&train.Objective{Data: first, L2: 1e-3}).FuncGrad(gb, theta)
			if d.Factored() != first.Factored() || la != lb || !slices.Equal(ga, gb) {
				t.Fatalf("cap %d, order %d: objective %v (factored %v), first order's %v (factored %v)",
					cap, i, la, d.Factored(), lb, first.Factored())
			}
		}
	}
}

// TestFactorKnowledge checks the choice between factored and summed
// KnowledgeStates on the two shapes of data that favour each.
func TestFactorKnowledge(t *testing.T) {
	row := func(ids ...uint32) compactRow { return compactRow{knowledge: ids} }
	// Many runs over few components, each run adding one.
	var shared []compactRow
	for s := range 200 {
		list := []uint32{uint32(s % 3), uint32(3 + s%4)}
		for range 3 {
			shared = append(shared, row(list...))
		}
	}
	slices.SortFunc(shared, func(a, b compactRow) int { return slices.Compare(a.knowledge, b.knowledge) })
	// Every run adds many components of its own.
	var spread []compactRow
	for s := range 50 {
		var list []uint32
		for j := range 30 {
			list = append(list, uint32(s*30+j))
		}
		spread = append(spread, row(list...))
	}
	for _, tc := range []struct {
		name string
		rows []compactRow
		k    int
		want bool
	}{
		{"few shared components", shared, 7, true},
		{"many components a run", spread, 1500, false},
		{"no component", []compactRow{row(), row()}, 0, false},
	} {
		if got := factorKnowledge(tc.rows, tc.k); got != tc.want {
			t.Errorf("%s: factorKnowledge %v, want %v", tc.name, got, tc.want)
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
