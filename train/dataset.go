package train

import (
	"fmt"
	"slices"
)

// Dataset holds the training rows of one model: N feature vectors of a fixed
// dimension and their labels.
//
// The feature vectors are stored row-major in one contiguous slice, each row
// padded with zeros to a multiple of 4 values so that the kernels of an
// evaluation can work on whole vectors of four. Every feature vector
// includes the bias column, so x[0] is normally 1.
//
// A Dataset made by NewFactoredDataset stores its last columns as sums of
// basis vectors instead; its rows read and fit as if they held the sums.
//
// The zero value is not usable; create a Dataset with NewDataset or
// NewFactoredDataset.
type Dataset struct {
	dim    int
	stride int       // the columns in x rounded up to a multiple of 4
	x      []float64 // row-major, len(x) == Len()*stride: all columns, or those before tail
	y      []float64 // labels as 0 or 1
	tail   *factored // nil: x holds every column

	bad error // the first non-finite feature added, if any
}

// NewDataset returns an empty Dataset for feature vectors of length dim, with
// room for capacity rows before it has to grow. NewDataset panics if dim is
// not positive or capacity is negative.
func NewDataset(dim, capacity int) *Dataset {
	if dim <= 0 {
		panic(fmt.Sprintf("train: non-positive dimension %d", dim))
	}
	if capacity < 0 {
		panic(fmt.Sprintf("train: negative capacity %d", capacity))
	}
	stride := (dim + 3) &^ 3
	return &Dataset{
		dim:    dim,
		stride: stride,
		x:      make([]float64, 0, stride*capacity),
		y:      make([]float64, 0, capacity),
	}
}

// Add appends one row: its feature vector x (copied; x[0] is the bias) and
// whether the answer was correct. Add panics if len(x) != Dim().
// Non-finite features are accepted here and reported by Validate and Fit.
func (d *Dataset) Add(x []float64, correct bool) {
	if d.tail != nil {
		panic("train: Add on a factored dataset: use AddSum")
	}
	d.addRow(x, correct)
}

// stored returns the number of columns x holds: all, or those before the
// factored tail.
func (d *Dataset) stored() int {
	if d.tail != nil {
		return d.dim - d.tail.dim
	}
	return d.dim
}

// addRow appends the stored columns of a row and its label.
func (d *Dataset) addRow(x []float64, correct bool) {
	if len(x) != d.stored() {
		panic(fmt.Sprintf("train: row has %d features, dataset has %d", len(x), d.stored()))
	}
	if d.bad == nil {
		for j, v := range x {
			if v-v != 0 { // NaN or ±Inf
				d.bad = fmt.Errorf("train: row %d feature %d is %v", d.Len(), j, v)
				break
			}
		}
	}
	d.x = append(d.x, x...)
	for j := len(x); j < d.stride; j++ {
		d.x = append(d.x, 0)
	}
	y := 0.0
	if correct {
		y = 1
	}
	d.y = append(d.y, y)
}

// Factored reports whether d was made by NewFactoredDataset (or selected
// from such a Dataset, keeping its factored columns).
func (d *Dataset) Factored() bool { return d.tail != nil }

// Len returns the number of rows.
func (d *Dataset) Len() int { return len(d.y) }

// Dim returns the length of every feature vector, bias included.
func (d *Dataset) Dim() int { return d.dim }

// Row returns the feature vector of row i. The slice aliases the Dataset's
// storage and must not be modified; a factored Dataset's row is computed,
// into a new slice, at each call.
func (d *Dataset) Row(i int) []float64 {
	if d.tail != nil {
		row := make([]float64, d.dim)
		head := d.stored()
		copy(row, d.x[i*d.stride:i*d.stride+head])
		d.tail.sumInto(row[head:], d.tail.node[i])
		return row
	}
	return d.x[i*d.stride : i*d.stride+d.dim : i*d.stride+d.dim]
}

// head returns the first n (at most stored()) columns of row i, aliasing
// the Dataset's storage.
func (d *Dataset) head(i, n int) []float64 {
	return d.x[i*d.stride : i*d.stride+n : i*d.stride+n]
}

// Correct reports the label of row i.
func (d *Dataset) Correct(i int) bool { return d.y[i] == 1 }

// Validate returns an error naming the first row and feature that is NaN or
// infinite, or nil if every feature is finite.
func (d *Dataset) Validate() error { return d.bad }

// Columns returns a new Dataset holding the first n features of every row
// of d (the bias first) and the same labels: with the knowledge model's
// rows, Columns(7) is the "no knowledge" model's data, bias and
// ExerciseState without the KnowledgeState. The rows are copied, n values
// each. Columns panics if n is not between 1 and Dim().
func (d *Dataset) Columns(n int) *Dataset {
	if n <= 0 || n > d.dim {
		panic(fmt.Sprintf("train: %d columns of a dataset of dimension %d", n, d.dim))
	}
	c := NewDataset(n, d.Len())
	for i := range d.Len() {
		if n <= d.stored() {
			c.Add(d.head(i, n), d.Correct(i))
		} else {
			c.Add(d.Row(i)[:n], d.Correct(i))
		}
	}
	return c
}

// Select returns a new Dataset holding the columns cols of every row of d,
// in that order, and the same labels. If d is factored (NewFactoredDataset)
// and cols end with all its factored columns, in order, and name none of
// them before, the new Dataset is factored too and shares d's basis
// vectors and lists; rows cannot be added to it. Select panics if a column
// is out of range.
func (d *Dataset) Select(cols []int) *Dataset {
	for _, c := range cols {
		if c < 0 || c >= d.dim {
			panic(fmt.Sprintf("train: column %d of a dataset of dimension %d", c, d.dim))
		}
	}
	n := d.Len()
	if f := d.tail; f != nil && len(cols) > f.dim {
		head, nh := d.stored(), len(cols)-f.dim
		keeps := true
		for j, c := range cols {
			if (j < nh && c >= head) || (j >= nh && c != head+j-nh) {
				keeps = false
				break
			}
		}
		if keeps {
			s := NewDataset(nh, n)
			x := make([]float64, nh)
			for i := range n {
				row := d.head(i, head)
				for j, c := range cols[:nh] {
					x[j] = row[c]
				}
				s.addRow(x, d.Correct(i))
			}
			s.dim, s.tail = len(cols), f.view(f.node[:n:n])
			if s.bad == nil {
				s.bad = d.bad // a basis vector's
			}
			return s
		}
	}
	s := NewDataset(len(cols), n)
	x := make([]float64, len(cols))
	stored := slices.Max(cols) < d.stored()
	for i := range n {
		var row []float64
		if stored {
			row = d.head(i, d.stored())
		} else {
			row = d.Row(i)
		}
		for j, c := range cols {
			x[j] = row[c]
		}
		s.addRow(x, d.Correct(i))
	}
	return s
}
