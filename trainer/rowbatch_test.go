package trainer

import (
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/train"
)

// randomRows returns n replayed rows of exercise "ex".
func randomRows(n int, seed uint64) []features.Row {
	return testutil.ReplayedRows(n, seed, features.Khan2014)
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
		rows := testutil.ReplayedRows(13, 1, set)
		b := batchesOf(set, rows, rand.New(rand.NewPCG(1, 2)).Perm(13), 13)[0]
		if set == features.Extended && (len(b.Extras) != 13*features.NumStudentExtras || len(b.ProblemTypes) == 0) {
			t.Fatalf("extended batch without its extras: %+v", b)
		}
		enc, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got RowBatch
		if err := got.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("%s: round trip changed the batch:\n%+v\n%+v", set, got, b)
		}
		for _, cut := range []int{1, 20, len(enc) - 1} {
			var cutBatch RowBatch
			if err := cutBatch.UnmarshalBinary(enc[:cut]); err == nil {
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
			c := NewCollector(cap)
			for it := testutil.Iter(bs...); ; {
				var b RowBatch
				if !it(&b) {
					break
				}
				c.Add(&b)
			}
			d, _, err := c.Dataset(comps)
			if err != nil {
				t.Fatal(err)
			}
			want := n
			if cap > 0 && cap < want {
				want = cap
			}
			if c.Seen() != n || d.Len() != want {
				t.Fatalf("cap %d: seen %d, kept %d, want %d", cap, c.Seen(), d.Len(), want)
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
			la := (&train.Objective{Data: d, Penalty: train.Penalty{L2: 1e-3}}).FuncGrad(ga, theta)
			lb := (&train.Objective{Data: first, Penalty: train.Penalty{L2: 1e-3}}).FuncGrad(gb, theta)
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
