package features

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"strconv"

	"github.com/kmtrain/knowledgemodel/internal/wire"
)

// ComponentKey identifies a random component: Khan's model keys it by the
// exercise, the problem type and whether the answer was correct.
type ComponentKey struct {
	Exercise    string
	ProblemType string
	Correct     bool
}

// String returns the key as "exercise/problem_type/correct".
func (k ComponentKey) String() string {
	return k.Exercise + "/" + k.ProblemType + "/" + strconv.FormatBool(k.Correct)
}

// Compare orders keys by exercise, problem type, then incorrect before
// correct: the order in which a model's components are stored and summed.
func (k ComponentKey) Compare(o ComponentKey) int {
	if d := cmp.Compare(k.Exercise, o.Exercise); d != 0 {
		return d
	}
	if d := cmp.Compare(k.ProblemType, o.ProblemType); d != 0 {
		return d
	}
	switch {
	case k.Correct == o.Correct:
		return 0
	case k.Correct:
		return 1
	}
	return -1
}

// AppendComponentKey appends the binary form of k that ReadComponentKey
// reads: the exercise and the problem type, each after its length, and a
// byte for correct.
func AppendComponentKey(b []byte, k ComponentKey) []byte {
	b = wire.AppendPrefixedString(b, k.Exercise)
	b = wire.AppendPrefixedString(b, k.ProblemType)
	return wire.AppendBool(b, k.Correct)
}

// ReadComponentKey reads a key AppendComponentKey wrote; a failed read
// leaves d's Err set.
func ReadComponentKey(d *wire.Decoder) ComponentKey {
	return ComponentKey{Exercise: d.PrefixedString(), ProblemType: d.PrefixedString(), Correct: d.Bool()}
}

// Component is a fixed random unit vector added to a student's KnowledgeState
// when the student finishes the first problem of an exercise.
type Component struct {
	ComponentKey
	Vector []float64
}

// Validate checks that the component has KnowledgeDim finite values.
func (c Component) Validate() error {
	if len(c.Vector) != KnowledgeDim {
		return fmt.Errorf("component %s: vector has %d values, want %d", c.ComponentKey, len(c.Vector), KnowledgeDim)
	}
	for i, v := range c.Vector {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("component %s: value %d is %v", c.ComponentKey, i, v)
		}
	}
	return nil
}

// DeriveComponent returns the component of a key that no existing table
// holds. It depends on the key alone, so every worker derives the same vector
// in any order, and any language can reproduce it:
//
//	seed  = "<exercise>\x00<problem_type>\x00<true|false>"
//	for i in 0..49: h = SHA-256(seed || uint32 big-endian i)
//	    u1 = (uint64 big-endian h[0:8]  >> 11 + 0.5) / 2^53   (in (0,1))
//	    u2 = (uint64 big-endian h[8:16] >> 11) / 2^53         (in [0,1))
//	    r = sqrt(-2 ln u1); v[2i] = r cos(2π u2); v[2i+1] = r sin(2π u2)
//	v /= |v|
func DeriveComponent(key ComponentKey) Component {
	seed := []byte(key.Exercise + "\x00" + key.ProblemType + "\x00" + strconv.FormatBool(key.Correct))
	buf := make([]byte, len(seed)+4)
	copy(buf, seed)
	v := make([]float64, KnowledgeDim)
	var norm float64
	for i := 0; i < KnowledgeDim/2; i++ {
		binary.BigEndian.PutUint32(buf[len(seed):], uint32(i))
		h := sha256.Sum256(buf)
		u1 := (float64(binary.BigEndian.Uint64(h[0:8])>>11) + 0.5) / (1 << 53)
		u2 := float64(binary.BigEndian.Uint64(h[8:16])>>11) / (1 << 53)
		r := math.Sqrt(-2 * math.Log(u1))
		s, c := math.Sincos(2 * math.Pi * u2)
		v[2*i], v[2*i+1] = r*c, r*s
		norm += v[2*i]*v[2*i] + v[2*i+1]*v[2*i+1]
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] /= norm
	}
	return Component{ComponentKey: key, Vector: v}
}

// Components is a table of random components. Lookups of keys the table
// lacks derive the component with DeriveComponent, keep it, and remember it
// as new, so that the full table can be written out after a run.
//
// A Components is not safe for concurrent use; its Views, each used by one
// goroutine, are, as long as nobody changes the table.
type Components struct {
	// Keying says what the components of this table are keyed by; the
	// zero value is Khan's (exercise, problem_type, correct).
	Keying ComponentKeying

	base  map[ComponentKey][]float64 // a View's table, read-only; nil otherwise
	table map[ComponentKey][]float64
	added []ComponentKey
}

// NewComponents returns a table holding the given components. A key given
// twice with different vectors is an error: components never change.
func NewComponents(existing []Component) (*Components, error) {
	c := &Components{table: make(map[ComponentKey][]float64, len(existing))}
	for _, comp := range existing {
		if err := comp.Validate(); err != nil {
			return nil, err
		}
		if old, ok := c.table[comp.ComponentKey]; ok {
			for i := range old {
				if old[i] != comp.Vector[i] {
					return nil, fmt.Errorf("component %s appears twice with different vectors", comp.ComponentKey)
				}
			}
			continue
		}
		c.table[comp.ComponentKey] = comp.Vector
	}
	return c, nil
}

// View returns a table that reads c's components and keeps the ones it
// derives to itself: c does not change, so views of one table can be used
// on many goroutines at once (one each) while nothing changes c. A view of
// a view reads the view's table as it is then.
func (c *Components) View() *Components {
	if c.base == nil {
		return &Components{Keying: c.Keying, base: c.table}
	}
	merged := make(map[ComponentKey][]float64, len(c.base)+len(c.table))
	maps.Copy(merged, c.base)
	maps.Copy(merged, c.table)
	return &Components{Keying: c.Keying, base: merged}
}

// Vector returns the component of key, deriving it if the table lacks it.
func (c *Components) Vector(key ComponentKey) []float64 {
	if v, ok := c.base[key]; ok {
		return v
	}
	if v, ok := c.table[key]; ok {
		return v
	}
	v := DeriveComponent(key).Vector
	if c.table == nil {
		c.table = map[ComponentKey][]float64{}
	}
	c.table[key] = v
	c.added = append(c.added, key)
	return v
}

// Len returns the number of components in the table, derived ones included.
func (c *Components) Len() int { return len(c.base) + len(c.table) }

// TakeAdded returns the components derived since the last call.
func (c *Components) TakeAdded() []Component {
	out := make([]Component, len(c.added))
	for i, k := range c.added {
		out[i] = Component{ComponentKey: k, Vector: c.table[k]}
	}
	c.added = c.added[:0]
	return out
}
