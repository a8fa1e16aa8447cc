package modelops

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/score"
	"github.com/kmtrain/knowledgemodel/store"
)

// Gate decides whether version v may replace cur (nil: nothing is current)
// with the promotion gate's rule (model.Gate.Decide) and maxRegression.
// The rule wants both versions scored on the same held-out attempts, which
// only the training pipeline can do; here:
//
//   - if v's run gated it against cur (its summary's gate names cur), that
//     comparison, on the same attempts, is decided again with
//     maxRegression;
//   - otherwise the mean log-likelihoods the two runs recorded on their own
//     held-out attempts are compared, and the reason says so.
//
// A version without a held-out evaluation, or evaluated on no attempt, or a
// current one without, cannot be compared: it fails (an operator can force
// it), with nothing current too, as in kmtrain's gate. A version worse than
// its own 6-feature model on its held-out attempts fails too.
func Gate(v Version, cur *Version, maxRegression float64) model.Gate {
	g := model.Gate{MaxRegression: maxRegression}
	if cur != nil {
		g.CurrentVersion = cur.ID
	}
	ev := v.Summary.Evaluation
	if ev != nil {
		g.Baseline = model.NewBaselineCheck(ev.Overall, ev.Baselines[score.BaselineNoKnowledge].Overall)
	}
	switch {
	case ev == nil:
		g.Reason = fmt.Sprintf("version %s has no held-out evaluation (it was trained without one): it cannot be compared", v.ID)
		return g
	case cur == nil:
		g.Decide(ev.Overall.Attempts > 0, "")
		return g
	}
	if rg := v.Summary.Gate; rg != nil && rg.CurrentVersion == cur.ID {
		g.Comparison = rg.Comparison
		g.Decide(true, fmt.Sprintf("on %d held-out attempts, as the run that trained %s re-scored them", g.Attempts, v.ID))
		return g
	}
	cev := cur.Summary.Evaluation
	if cev == nil || cev.Overall.LogLikelihood == nil {
		g.Reason = fmt.Sprintf("the current version %s has no recorded held-out log-likelihood to compare with", cur.ID)
		return g
	}
	if ev.Overall.LogLikelihood != nil {
		g.Comparison = evaluate.Comparison{Attempts: min(ev.Overall.Attempts, cev.Overall.Attempts),
			New: *ev.Overall.LogLikelihood, Current: *cev.Overall.LogLikelihood}
		g.Delta = g.New - g.Comparison.Current
	}
	g.Decide(true, fmt.Sprintf("as recorded at training, each on its own held-out attempts (%d and %d; %s was not re-scored against %s)",
		ev.Overall.Attempts, cev.Overall.Attempts, v.ID, cur.ID))
	return g
}

// PromoteOptions are kmmodel promote's.
type PromoteOptions struct {
	// MaxRegression is the gate's: how much worse than the current
	// version's held-out log-likelihood a version may be (0: no worse;
	// kmmodel's flag defaults to model.DefaultMaxRegression).
	MaxRegression float64
	// Force promotes without the gate, a rejected version too.
	Force bool
	// Why is the operator's reason, recorded in the history.
	Why string
}

// Promote makes version current: through Gate unless o.Force, and as a
// compare-and-swap on the version current when Promote read it, so that a
// switch by anyone else in between refuses it rather than replaces a
// version it was never compared with. It writes what it did to w.
func Promote(ctx context.Context, st *store.Store, version string, o PromoteOptions, w io.Writer) error {
	if err := model.CheckMaxRegression(o.MaxRegression); err != nil {
		return err
	}
	src := Datastore{st}
	v, err := src.Version(ctx, version)
	if err != nil {
		return err
	}
	if v.Current != nil {
		fmt.Fprintf(w, "version %s is already current\n", version)
		return nil
	}
	var cur *Version
	rec, err := st.CurrentRecord(ctx)
	switch {
	case errors.Is(err, store.ErrNoCurrent):
	case err != nil:
		return err
	default:
		c, err := src.Version(ctx, rec.Version)
		if err != nil {
			return fmt.Errorf("the current version: %w", err)
		}
		cur = &c
	}
	var why, compared string
	if o.Force {
		why, compared = "--force: not gated", "kmmodel read"
	} else {
		if v.Status == store.StatusRejected {
			return fmt.Errorf("version %s is rejected (%s): --force promotes it anyway", version, v.Reason)
		}
		g := Gate(v, cur, o.MaxRegression)
		if !g.Passed {
			return fmt.Errorf("version %s fails the gate: %s (--force promotes it anyway)", version, g.Reason)
		}
		why, compared = "kmmodel gate passed: "+g.Reason, "the gate compared against"
	}
	if o.Why != "" {
		why += "; " + o.Why
	}
	expect := ""
	if cur != nil {
		expect = cur.ID
	}
	previous, err := st.PromoteWith(ctx, version, store.PromoteOptions{Expect: expect, Compared: compared,
		AllowRejected: o.Force, Why: why})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "version %s is current, replacing %s: %s\n", version, orNone(previous), why)
	return nil
}

// Rollback makes the version the current one replaced current again.
func Rollback(ctx context.Context, st *store.Store, why string, w io.Writer) error {
	from, to, err := st.Rollback(ctx, why)
	if err != nil && to != "" {
		return fmt.Errorf("rolling back from %s to %s: %w", from, to, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "rolled back from %s: version %s is current\n", from, to)
	return nil
}

// Reject marks a version rejected, saying why.
func Reject(ctx context.Context, st *store.Store, version, why string, w io.Writer) error {
	if err := st.Reject(ctx, version, why); err != nil {
		return err
	}
	fmt.Fprintf(w, "version %s is rejected: %s\n", version, why)
	return nil
}
