package trainer

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

// compactRow is a row as the trainer keeps it until the fit.
type compactRow struct {
	sample    uint64
	history   uint32
	correct   bool
	knowledge []uint32 // ids into Collector.keys

	// Extended rows only.
	problemType uint32    // id into Collector.types
	fold        uint8     // features.UserFold of the student
	extras      []float64 // features.Row.Extras
}

// Collector gathers an exercise's RowBatches, in any number and order,
// keeping at most maxRows rows (0: all): those with the smallest sample
// keys, so that memory stays under twice the cap and the rows kept, like
// the Dataset they give, do not depend on arrival order.
type Collector struct {
	maxRows int
	seen    int
	rows    []compactRow
	keys    interner[features.ComponentKey]

	extended bool // the rows are of the extended feature set
	types    interner[string]
}

// interner numbers distinct values densely, in the order first seen.
type interner[T comparable] struct {
	values []T
	ids    map[T]uint32
}

// id returns v's number, giving it the next one if it is new.
func (in *interner[T]) id(v T) uint32 {
	id, ok := in.ids[v]
	if !ok {
		if in.ids == nil {
			in.ids = map[T]uint32{}
		}
		id = uint32(len(in.values))
		in.ids[v] = id
		in.values = append(in.values, v)
	}
	return id
}

// NewCollector returns an empty Collector that keeps at most maxRows rows
// (0: all).
func NewCollector(maxRows int) *Collector {
	return &Collector{maxRows: maxRows}
}

// Seen returns the number of rows added, before the cap: the number
// Options.MinRows is compared with.
func (c *Collector) Seen() int { return c.seen }

// Add adds a batch of the exercise's rows.
func (c *Collector) Add(b *RowBatch) {
	remap := make([]uint32, len(b.Keys))
	for i, k := range b.Keys {
		remap[i] = c.keys.id(k)
	}
	ids := make([]uint32, len(b.KnowledgeIDs))
	for i, id := range b.KnowledgeIDs {
		ids[i] = remap[id]
	}
	var typeRemap []uint32
	if b.Extended {
		c.extended = true
		for _, t := range b.ProblemTypes {
			typeRemap = append(typeRemap, c.types.id(t))
		}
	}
	start := uint32(0)
	for i := range b.Correct {
		end := b.KnowledgeEnd[i]
		r := compactRow{sample: b.Sample[i], history: b.History[i], correct: b.Correct[i], knowledge: ids[start:end:end]}
		if b.Extended {
			r.problemType, r.fold, r.extras = typeRemap[b.ProblemType[i]], b.Fold[i], b.RowExtras(i)
		}
		c.rows = append(c.rows, r)
		start = end
	}
	c.seen += b.Len()
	if c.maxRows > 0 && len(c.rows) >= 2*c.maxRows {
		c.keep(c.maxRows)
	}
}

// keep keeps the k rows with the smallest sample keys (ties by content, so
// the choice is the same on any runner).
func (c *Collector) keep(k int) {
	if k >= len(c.rows) {
		return
	}
	slices.SortFunc(c.rows, func(a, b compactRow) int { return c.compare(&a, &b) })
	clear(c.rows[k:])
	c.rows = c.rows[:k]
}

// compare orders rows by sample key, ties by content: the order is total.
func (c *Collector) compare(a, b *compactRow) int {
	if d := cmp.Compare(a.sample, b.sample); d != 0 {
		return d
	}
	if d := cmp.Compare(a.history, b.history); d != 0 {
		return d
	}
	if a.correct != b.correct {
		if a.correct {
			return 1
		}
		return -1
	}
	if d := slices.CompareFunc(a.knowledge, b.knowledge, func(x, y uint32) int { return c.keys.values[x].Compare(c.keys.values[y]) }); d != 0 || !c.extended {
		return d
	}
	// Extended rows can tie on all of that and differ in the rest: a log
	// kept twice (--drop_gaps=false) after 20 equal answers.
	if d := strings.Compare(c.types.values[a.problemType], c.types.values[b.problemType]); d != 0 {
		return d
	}
	if d := cmp.Compare(a.fold, b.fold); d != 0 {
		return d
	}
	return slices.CompareFunc(a.extras, b.extras, func(x, y float64) int { return cmp.Compare(math.Float64bits(x), math.Float64bits(y)) })
}

// Dataset expands the kept rows into the features the fit uses, with the
// components of comps, the KnowledgeState as the list of its components
// (train.NewFactoredDataset) where that is cheaper. For rows of the
// extended feature set it also returns the problem types' difficulty
// counts of the kept rows, and gives each row the estimate without its own
// fold of students (features.DifficultyCounts.OutOfFold; a model predicts
// with features.DifficultyCounts.Table); otherwise the counts are nil. Call
// it once, after the last Add. The rows are ordered by their KnowledgeState's components, then by sample
// key: a total order on their content, so the fit is reproducible bit for
// bit, and rows with the same KnowledgeState (a student's rows on one
// exercise, mostly) are adjacent, as are lists that share a prefix.
func (c *Collector) Dataset(comps *features.Components) (*train.Dataset, *features.DifficultyCounts, error) {
	keep := len(c.rows)
	if c.maxRows > 0 {
		keep = min(keep, c.maxRows)
	}
	c.keep(keep)
	// Compare component ids by rank: the order of their keys, whatever order
	// the ids were given in.
	order := make([]uint32, len(c.keys.values))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return c.keys.values[a].Compare(c.keys.values[b]) })
	rank := make([]uint32, len(c.keys.values))
	for r, id := range order {
		rank[id] = uint32(r)
	}
	byRank := func(x, y uint32) int { return cmp.Compare(rank[x], rank[y]) }
	slices.SortFunc(c.rows, func(a, b compactRow) int {
		if d := slices.CompareFunc(a.knowledge, b.knowledge, byRank); d != 0 {
			return d
		}
		return c.compare(&a, &b)
	})

	// The basis vectors in the order of their keys, whatever order the ids
	// were given in: the fit sums over them in that order.
	vectors := make([][]float64, len(order))
	for r, id := range order {
		vectors[r] = comps.Vector(c.keys.values[id])
	}
	set := features.Khan2014
	var counts *features.DifficultyCounts
	if c.extended {
		set = features.Extended
		counts = &features.DifficultyCounts{}
		for _, r := range c.rows {
			counts.Add(c.types.values[r.problemType], r.fold, r.correct)
		}
	}
	dim := set.Dim()
	head := dim - features.KnowledgeDim
	var d *train.Dataset
	if factorKnowledge(c.rows, len(vectors)) {
		d = train.NewFactoredDataset(dim, vectors, len(c.rows))
	} else {
		d = train.NewDataset(dim, len(c.rows))
	}
	x := make([]float64, dim)
	var ranks []uint32
	var ks features.KnowledgeState
	for i, r := range c.rows {
		h, err := features.UnpackExerciseState(r.history)
		if err != nil {
			return nil, nil, err
		}
		difficulty := 0.0
		if counts != nil {
			difficulty = counts.OutOfFold(c.types.values[r.problemType], r.fold)
		}
		set.Expand(&h, difficulty, r.extras, nil, x)
		if d.Factored() {
			ranks = ranks[:0]
			for _, id := range r.knowledge {
				ranks = append(ranks, rank[id])
			}
			d.AddSum(x[:head], ranks, r.correct)
			continue
		}
		// The sum of the row's components, as Expand would add them, once
		// per run of rows with one KnowledgeState.
		if i == 0 || !slices.Equal(r.knowledge, c.rows[i-1].knowledge) {
			ks = features.KnowledgeState{}
			for _, id := range r.knowledge {
				ks.Add(vectors[rank[id]])
			}
		}
		copy(x[head:], ks[:])
		d.Add(x, r.correct)
	}
	return d, counts, nil
}

// factorKnowledge reports whether the fit of sorted rows whose
// KnowledgeStates sum some of k components is cheaper with the
// KnowledgeState factored (train.NewFactoredDataset) than with its sums.
// An evaluation with the sums takes θ's product with each run's sum (2·100
// multiply-adds, forward and back); factored, with each component, plus
// three passes over the nodes of the rows' trie of component lists (one
// per component a run adds to the previous run's list), whose dependent
// loads cost about as much as nodeCost multiply-adds each (measured on
// ASSISTments and synthetic data). Few components shared by many students
// (the synthetic data, Khan's exercises) favour the factors; students who
// start many components between two runs (ASSISTments), the sums.
func factorKnowledge(rows []compactRow, k int) bool {
	const nodeCost = 48
	if k == 0 {
		return false
	}
	runs, nodes := 0, 0
	for i, r := range rows {
		if i > 0 && slices.Equal(r.knowledge, rows[i-1].knowledge) {
			continue
		}
		runs++
		p := 0
		if i > 0 {
			prev := rows[i-1].knowledge
			for p < len(prev) && p < len(r.knowledge) && prev[p] == r.knowledge[p] {
				p++
			}
		}
		nodes += len(r.knowledge) - p
	}
	return 2*k*features.KnowledgeDim+nodeCost*nodes < 2*runs*features.KnowledgeDim
}
