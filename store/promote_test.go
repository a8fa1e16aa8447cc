package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/kmtrain/knowledgemodel/store"
)

// stage writes a complete version with status staged.
func stage(t *testing.T, s *store.Store, version string) {
	t.Helper()
	ctx := context.Background()
	if err := s.PutThetas(ctx, version, makeThetas(version, 3, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVersion(ctx, makeSummary(version, 3), store.StatusStaged); err != nil {
		t.Fatal(err)
	}
}

func lastChange(t *testing.T, s *store.Store, version string) (store.VersionInfo, store.StatusChange) {
	t.Helper()
	info, err := s.Version(context.Background(), version)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.History) == 0 {
		t.Fatalf("version %s has no history", version)
	}
	return info, info.History[len(info.History)-1]
}

// TestPromoteWith promotes with and without the expected current version,
// from an empty store and from one with a version current.
func TestPromoteWith(t *testing.T) {
	tests := []struct {
		name    string
		current string // promoted first, unconditionally; "" none
		reject  bool   // the version to promote is rejected first
		opts    store.PromoteOptions
		wantErr error
		wantMsg string
	}{
		{name: "nothing current, expected none", opts: store.PromoteOptions{Why: "first"}},
		{name: "nothing current, expected one", opts: store.PromoteOptions{Expect: "a"}, wantErr: store.ErrCurrentChanged,
			wantMsg: "version v: not promoted: the current knowledge model version changed from a to none after the gate compared against a"},
		{name: "as expected", current: "a", opts: store.PromoteOptions{Expect: "a", Why: "gate passed"}},
		{name: "another current", current: "b", opts: store.PromoteOptions{Expect: "a"}, wantErr: store.ErrCurrentChanged,
			wantMsg: "version v: not promoted: the current knowledge model version changed from a to b after the gate compared against a"},
		{name: "one current, expected none", current: "b", opts: store.PromoteOptions{}, wantErr: store.ErrCurrentChanged,
			wantMsg: "changed from none to b after the gate compared against none"},
		{name: "compared says how", current: "b", opts: store.PromoteOptions{Expect: "a", Compared: "kmmodel read"},
			wantErr: store.ErrCurrentChanged, wantMsg: "changed from a to b after kmmodel read a"},
		{name: "any current", current: "b", opts: store.PromoteOptions{AnyCurrent: true}},
		{name: "rejected", current: "a", reject: true, opts: store.PromoteOptions{Expect: "a"}, wantErr: store.ErrRejected},
		{name: "rejected, allowed", current: "a", reject: true, opts: store.PromoteOptions{Expect: "a", AllowRejected: true, Why: "forced"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.open("")
			s.By = "test"
			ctx := context.Background()
			if tc.current != "" {
				stage(t, s, tc.current)
				if _, err := s.Promote(ctx, tc.current); err != nil {
					t.Fatal(err)
				}
			}
			stage(t, s, "v")
			if tc.reject {
				if err := s.Reject(ctx, "v", "worse"); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := s.Version(ctx, "v")
			prev, err := s.PromoteWith(ctx, "v", tc.opts)
			cur, _ := s.Current(ctx)
			info, last := lastChange(t, s, "v")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("PromoteWith = %v; want %v saying %q", err, tc.wantErr, tc.wantMsg)
				}
				if cur != tc.current {
					t.Errorf("current %q after a refusal, want %q", cur, tc.current)
				}
				if info.Status != before.Status {
					t.Errorf("status %s after a refusal, want %s", info.Status, before.Status)
				}
				if tc.wantErr == store.ErrCurrentChanged && (last.From != before.Status || last.To != before.Status ||
					last.By != "test" || !strings.Contains(last.Why, tc.wantMsg[strings.Index(tc.wantMsg, "changed"):])) {
					t.Errorf("history's last entry %+v: want the refusal", last)
				}
				return
			}
			if err != nil || prev != tc.current || cur != "v" {
				t.Fatalf("PromoteWith = %q, %v, current %q; want %q, nil, v", prev, err, cur, tc.current)
			}
			if last.From != before.Status || last.To != store.StatusCurrent || last.By != "test" ||
				!strings.Contains(last.Why, tc.opts.Why) || (tc.current != "" && !strings.Contains(last.Why, "replaces "+tc.current)) {
				t.Errorf("history's last entry %+v", last)
			}
			if info.Reason != "" || !info.Rejected.IsZero() {
				t.Errorf("a promoted version still says it was rejected: %+v", info)
			}
			if tc.current != "" {
				p, plast := lastChange(t, s, tc.current)
				if p.Status != store.StatusStaged || plast.From != store.StatusCurrent || plast.To != store.StatusStaged || plast.Why != "replaced by v" {
					t.Errorf("replaced version %s: status %s, last change %+v", tc.current, p.Status, plast)
				}
				rec, err := s.CurrentRecord(ctx)
				if err != nil || rec.Version != "v" || rec.Previous != tc.current || rec.Switched.IsZero() {
					t.Errorf("CurrentRecord = %+v, %v", rec, err)
				}
			}
		})
	}
}

// commitBarrier is a gRPC interceptor that holds each of the first n
// Commit calls until n have arrived (or a timeout passed), so that n
// transactions that read the same entities commit together.
type commitBarrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	all     chan struct{}
}

func newCommitBarrier(n int) *commitBarrier { return &commitBarrier{n: n, all: make(chan struct{})} }

func (b *commitBarrier) option() option.ClientOption {
	return option.WithGRPCDialOption(grpc.WithUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method == commitMethod {
				b.mu.Lock()
				b.arrived++
				first := b.arrived <= b.n
				if b.arrived == b.n {
					close(b.all)
				}
				b.mu.Unlock()
				if first {
					select {
					case <-b.all:
					case <-time.After(3 * time.Second): // the emulator may hold one transaction's reads
					}
				}
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
}

// TestConcurrentPromote is two training runs that finish at once: each gated
// its version against the same current one and promotes it, expecting that
// one. Exactly one wins; the other is refused, saying what became current,
// stays staged, and its history says so; the records of the winner, the
// version it replaced and KnowledgeModelCurrent tell one switch.
func TestConcurrentPromote(t *testing.T) {
	e := newEnv(t)
	for round := range 3 {
		base, a, b := fmt.Sprint("base", round), fmt.Sprint("a", round), fmt.Sprint("b", round)
		setup := e.open("")
		stage(t, setup, base)
		if _, err := setup.PromoteWith(context.Background(), base, store.PromoteOptions{AnyCurrent: true}); err != nil {
			t.Fatal(err)
		}
		stage(t, setup, a)
		stage(t, setup, b)

		barrier := newCommitBarrier(2)
		var wg sync.WaitGroup
		errs := map[string]error{}
		var mu sync.Mutex
		for _, v := range []string{a, b} {
			s := e.open("", barrier.option())
			s.By = "run " + v
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.PromoteWith(context.Background(), v, store.PromoteOptions{Expect: base, Why: "gate passed"})
				mu.Lock()
				errs[v] = err
				mu.Unlock()
			}()
		}
		wg.Wait()
		// Both transactions read the current version and committed at once;
		// the loser's was aborted and retried, and the retry was refused.
		if barrier.arrived < 3 {
			t.Errorf("round %d: %d commits: want both at once and the loser's retry", round, barrier.arrived)
		}

		ctx := context.Background()
		cur, err := setup.CurrentRecord(ctx)
		if err != nil {
			t.Fatal(err)
		}
		winner, loser := a, b
		if cur.Version == b {
			winner, loser = b, a
		}
		if cur.Version != winner || cur.Previous != base {
			t.Fatalf("round %d: KnowledgeModelCurrent %+v: want %s or %s, replacing %s", round, cur, a, b, base)
		}
		if errs[winner] != nil {
			t.Errorf("round %d: the winner %s: %v", round, winner, errs[winner])
		}
		want := fmt.Sprintf("version %s: not promoted: the current knowledge model version changed from %s to %s after the gate compared against %s",
			loser, base, winner, base)
		if !errors.Is(errs[loser], store.ErrCurrentChanged) || !strings.Contains(errs[loser].Error(), want) {
			t.Errorf("round %d: the loser %s: %v\nwant %s", round, loser, errs[loser], want)
		}
		w, wlast := lastChange(t, setup, winner)
		if w.Status != store.StatusCurrent || wlast.From != store.StatusStaged || wlast.To != store.StatusCurrent ||
			wlast.By != "run "+winner || wlast.Why != "replaces "+base+"; gate passed" {
			t.Errorf("round %d: winner %s: status %s, last change %+v", round, winner, w.Status, wlast)
		}
		if n := len(w.History); n != 2 { // written, promoted
			t.Errorf("round %d: winner's history %+v: want 2 entries", round, w.History)
		}
		bi, blast := lastChange(t, setup, base)
		if bi.Status != store.StatusStaged || blast.To != store.StatusStaged || blast.Why != "replaced by "+winner {
			t.Errorf("round %d: replaced %s: status %s, last change %+v", round, base, bi.Status, blast)
		}
		l, llast := lastChange(t, setup, loser)
		if l.Status != store.StatusStaged || llast.From != store.StatusStaged || llast.To != store.StatusStaged ||
			llast.By != "run "+loser || !strings.Contains(llast.Why, "changed from "+base+" to "+winner) {
			t.Errorf("round %d: loser %s: status %s, last change %+v", round, loser, l.Status, llast)
		}
	}
}

// TestRollbackAndHistory walks a version through the changes an operator
// makes and checks its history and KnowledgeModelCurrent.
func TestRollbackAndHistory(t *testing.T) {
	e := newEnv(t)
	s := e.open("")
	s.By = "operator"
	ctx := context.Background()
	if _, _, err := s.Rollback(ctx, ""); !errors.Is(err, store.ErrNoCurrent) {
		t.Errorf("Rollback with nothing current = %v, want ErrNoCurrent", err)
	}
	stage(t, s, "v1")
	if _, err := s.PromoteWith(ctx, "v1", store.PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rollback(ctx, ""); !errors.Is(err, store.ErrNoPrevious) {
		t.Errorf("Rollback of the first version = %v, want ErrNoPrevious", err)
	}
	stage(t, s, "v2")
	if _, err := s.PromoteWith(ctx, "v2", store.PromoteOptions{Expect: "v1"}); err != nil {
		t.Fatal(err)
	}
	from, to, err := s.Rollback(ctx, "AUC fell")
	if err != nil || from != "v2" || to != "v1" {
		t.Fatalf("Rollback = %q, %q, %v; want v2, v1", from, to, err)
	}
	if rec, _ := s.CurrentRecord(ctx); rec.Version != "v1" || rec.Previous != "v2" {
		t.Errorf("after the rollback KnowledgeModelCurrent is %+v", rec)
	}
	if err := s.Reject(ctx, "v2", "AUC fell"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rollback(ctx, ""); !errors.Is(err, store.ErrRejected) {
		t.Errorf("Rollback to a rejected version = %v, want ErrRejected", err)
	}
	// Rewriting a version (a rerun) keeps its history.
	if err := s.PutVersion(ctx, makeSummary("v2", 3), store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	v2, err := s.Version(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	type step struct{ from, to, why string }
	var got []step
	for _, c := range v2.History {
		got = append(got, step{c.From, c.To, c.Why})
		if c.By != "operator" || c.Time.IsZero() {
			t.Errorf("change %+v: want by operator, with a time", c)
		}
	}
	want := []step{
		{"", "staged", "written"},
		{"staged", "current", "replaces v1"},
		{"current", "staged", "replaced by v1"},
		{"staged", "rejected", "AUC fell"},
		{"rejected", "staged", "written"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("v2's history:\n%v\nwant\n%v", got, want)
	}
	v1, _ := s.Version(ctx, "v1")
	if l := v1.History[len(v1.History)-1]; l.To != "current" || l.Why != "replaces v2; rollback from v2; AUC fell" {
		t.Errorf("v1's last change %+v", l)
	}
}

// TestHistoryBounded: a version changed many times keeps its newest
// MaxHistory changes, each reason cut short.
func TestHistoryBounded(t *testing.T) {
	e := newEnv(t)
	s := e.open("")
	ctx := context.Background()
	stage(t, s, "v")
	long := strings.Repeat("é", 2000)
	for i := range store.MaxHistory + 5 {
		if err := s.Reject(ctx, "v", fmt.Sprint(i, long)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := s.Version(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.History) != store.MaxHistory {
		t.Fatalf("%d changes kept, want %d", len(info.History), store.MaxHistory)
	}
	last := info.History[len(info.History)-1]
	if !strings.HasPrefix(last.Why, fmt.Sprint(store.MaxHistory+4)) || len(last.Why) > 500 || !strings.HasSuffix(last.Why, "...") {
		t.Errorf("last reason (%d bytes) %.40q...: want the newest, cut under 500 bytes", len(last.Why), last.Why)
	}
	if info.Reason != fmt.Sprint(store.MaxHistory+4, long) {
		t.Error("the version's reason itself was cut")
	}
}
