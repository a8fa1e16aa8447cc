package train

import (
	"fmt"
	"slices"
)

// factored holds the last columns of a Dataset made by NewFactoredDataset:
// each row's are the sum of a list of basis vectors, as the knowledge
// model's KnowledgeState is the sum of the components of the exercises a
// student has started.
//
// The rows' lists are kept as a trie: node 0 is the empty sum, and node
// m > 0 adds basis vector id[m] to the sum of node parent[m], which comes
// before it. A row names the node of its whole list. An evaluation then
// costs, for these columns, a product of θ with each basis vector, an
// addition per node and a lookup per row, instead of a product per row:
// the lists of one exercise's rows share most of their prefixes (a
// student's list only grows).
type factored struct {
	dim   int       // width of the tail, and of every basis vector
	basis []float64 // len(basis)/dim vectors of dim values, one after another

	parent []int32
	id     []int32
	node   []int32 // per row of the Dataset

	// While adding rows: the children of each node, and the previous row's
	// list with its path through the trie (path[j]: the node of ids[:j+1]).
	children map[[2]int32]int32
	lastIDs  []int32
	lastPath []int32
}

// NewFactoredDataset returns an empty Dataset for feature vectors of length
// dim whose last len(basis[0]) features are, in every row, the sum of some
// of the basis vectors (see AddSum). Its rows read (Row) and fit exactly
// like a Dataset whose rows held those sums, computed by adding the vectors
// one after another to zero; the fit's sums are taken in another order, so
// results can differ from such a Dataset's in the last bits.
//
// NewFactoredDataset panics if there is no basis vector, if the vectors
// differ in length or are empty, or if they leave no column before them.
// A basis vector with a non-finite value is reported by Validate.
func NewFactoredDataset(dim int, basis [][]float64, capacity int) *Dataset {
	if len(basis) == 0 {
		panic("train: factored dataset without basis vectors")
	}
	k := len(basis[0])
	if k == 0 || k >= dim {
		panic(fmt.Sprintf("train: basis vectors of %d values for rows of %d features", k, dim))
	}
	d := NewDataset(dim-k, capacity)
	d.dim = dim
	f := &factored{dim: k, basis: make([]float64, 0, len(basis)*k),
		parent: []int32{-1}, id: []int32{-1}, node: make([]int32, 0, capacity), children: map[[2]int32]int32{}}
	for i, v := range basis {
		if len(v) != k {
			panic(fmt.Sprintf("train: basis vector %d has %d values, vector 0 has %d", i, len(v), k))
		}
		for j, x := range v {
			if x-x != 0 && d.bad == nil {
				d.bad = fmt.Errorf("train: basis vector %d value %d is %v", i, j, x)
			}
		}
		f.basis = append(f.basis, v...)
	}
	d.tail = f
	return d
}

// AddSum appends one row of a Dataset made by NewFactoredDataset: its
// first Dim()-len(basis vector) features head (copied; head[0] is the
// bias), its last the sum of the basis vectors ids, in that order, and
// whether the answer was correct. AddSum panics if d is not factored, if
// head has the wrong length or if an id is not a basis vector's.
func (d *Dataset) AddSum(head []float64, ids []uint32, correct bool) {
	f := d.tail
	if f == nil {
		panic("train: AddSum on a dataset that is not factored")
	}
	if f.children == nil {
		panic("train: AddSum on a view of a factored dataset")
	}
	d.addRow(head, correct)
	// Walk the trie from the longest prefix shared with the previous row.
	p := 0
	for p < len(ids) && p < len(f.lastIDs) && int32(ids[p]) == f.lastIDs[p] {
		p++
	}
	f.lastIDs, f.lastPath = f.lastIDs[:p], f.lastPath[:p]
	n := int32(0)
	if p > 0 {
		n = f.lastPath[p-1]
	}
	for _, id := range ids[p:] {
		if int(id) >= len(f.basis)/f.dim {
			panic(fmt.Sprintf("train: basis vector %d of %d", id, len(f.basis)/f.dim))
		}
		c, ok := f.children[[2]int32{n, int32(id)}]
		if !ok {
			c = int32(len(f.parent))
			f.parent = append(f.parent, n)
			f.id = append(f.id, int32(id))
			f.children[[2]int32{n, int32(id)}] = c
		}
		n = c
		f.lastIDs = append(f.lastIDs, int32(id))
		f.lastPath = append(f.lastPath, n)
	}
	f.node = append(f.node, n)
}

// sumInto adds to dst, zeroed, the basis vectors of node n in list order.
func (f *factored) sumInto(dst []float64, n int32) {
	var path []int32
	for ; n > 0; n = f.parent[n] {
		path = append(path, f.id[n])
	}
	for _, id := range slices.Backward(path) {
		v := f.basis[int(id)*f.dim : (int(id)+1)*f.dim]
		for j, x := range v {
			dst[j] += x
		}
	}
}

// view returns the tail of rows whose nodes are node, sharing the trie and
// the basis.
func (f *factored) view(node []int32) *factored {
	return &factored{dim: f.dim, basis: f.basis, parent: f.parent, id: f.id, node: node}
}

// factoredEval is an Objective's scratch for a factored Dataset.
type factoredEval struct {
	w   []float64 // θ's product with each basis vector
	val []float64 // per node: the product of θ with its sum
	acc []float64 // per node: the residuals of the rows below it
	r   []float64 // per row: its residual
	s   []float64 // per basis vector: the residuals of the rows that sum it
}

func newFactoredEval(f *factored, rows int) *factoredEval {
	k, nodes := len(f.basis)/f.dim, len(f.parent)
	return &factoredEval{w: make([]float64, k), val: make([]float64, nodes), acc: make([]float64, nodes),
		r: make([]float64, rows), s: make([]float64, k)}
}

// values computes the product of the tail of θ with every node's sum.
func (e *factoredEval) values(f *factored, thTail []float64) {
	gemvN(f.basis, f.dim, thTail, e.w)
	e.val[0] = 0
	for m := 1; m < len(f.parent); m++ {
		e.val[m] = e.val[f.parent[m]] + e.w[f.id[m]]
	}
}

// gradient adds into g (the tail's gradient sums) the residuals e.r of the
// rows, through the nodes and the basis vectors, in an order that depends
// on the data alone.
func (e *factoredEval) gradient(f *factored, g []float64) {
	clear(e.acc)
	for i, n := range f.node {
		e.acc[n] += e.r[i]
	}
	clear(e.s)
	for m := len(f.parent) - 1; m > 0; m-- {
		e.acc[f.parent[m]] += e.acc[m]
		e.s[f.id[m]] += e.acc[m]
	}
	gemvT(f.basis, f.dim, e.s, g)
}
