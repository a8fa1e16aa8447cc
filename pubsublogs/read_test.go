package pubsublogs_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/psemulator"
	"github.com/kmtrain/knowledgemodel/pubsublogs"
	"github.com/kmtrain/knowledgemodel/transforms"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// describe is a message as the test compares it: its id, event time and
// whether its body parses.
func describe(et beam.EventTime, m transforms.Message) string {
	return fmt.Sprintf("%s@%d:%d", m.ID, et.Milliseconds(), len(m.Data))
}

// published keeps the messages Publish sent.
func published(d string, emit func(string)) {
	if d[0] == 'a' {
		emit(d)
	}
}

func init() {
	register.Function2x1(describe)
	register.Function2x0(published)
	register.Emitter1[string]()
}

func logs(n int) []features.ProblemLog {
	base := time.Date(2014, 3, 1, 10, 0, 0, 0, time.UTC)
	out := make([]features.ProblemLog, n)
	for i := range out {
		out[i] = features.ProblemLog{User: fmt.Sprintf("u%d", i%3), TimeDone: base.Add(time.Duration(i) * time.Minute),
			Exercise: "addition_1", ProblemType: "t", ProblemNumber: i + 1, Correct: i%2 == 0}
	}
	return out
}

// TestReadPulled publishes logs to the emulator, reads them with the pulled
// read until idle and checks that each message came once, at its
// time_done, and that every one was acknowledged.
func TestReadPulled(t *testing.T) {
	e := psemulator.Start(t)
	project := e.Use(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := pubsublogs.EnsureSubscription(ctx, c, "logs", "logs-sub"); err != nil {
		t.Fatal(err)
	}
	ls := logs(2500)
	if n, err := pubsublogs.Publish(ctx, c, "logs", ls, pubsublogs.PublishOptions{IDPrefix: "a"}); err != nil || n != len(ls) {
		t.Fatalf("Publish = %d, %v", n, err)
	}
	// A message with no time_done attribute is read at its publish time.
	if _, err := c.Publisher("logs").Publish(ctx, &pubsub.Message{Data: []byte("not json")}).Get(ctx); err != nil {
		t.Fatal(err)
	}

	p, s := beam.NewPipelineWithRoot()
	msgs := pubsublogs.Read(s, pubsublogs.ReadOptions{Project: project, Subscription: "logs-sub", IdleStop: 2 * time.Second, MaxDelay: time.Second})
	got := beam.ParDo(s, describe, msgs)
	var want []any
	for i, l := range ls {
		m := pubsublogs.Message(l, fmt.Sprintf("a%d", i))
		want = append(want, fmt.Sprintf("a%d@%d:%d", i, l.TimeDone.UnixMilli(), len(m.Data)))
	}
	passert.Count(s, got, "messages", len(ls)+1)
	timed := beam.ParDo(s, published, got)
	passert.Equals(s, timed, want...)
	ptest.RunAndValidate(t, p)

	// Everything read was acknowledged: nothing comes again.
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	defer pcancel()
	resp, err := c.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: pubsublogs.SubscriptionName(project, "logs-sub"), MaxMessages: 100})
	if err == nil && len(resp.ReceivedMessages) > 0 {
		var ids []string
		for _, m := range resp.ReceivedMessages {
			ids = append(ids, m.Message.Attributes[pubsublogs.IDAttribute])
		}
		sort.Strings(ids)
		t.Errorf("%d messages were not acknowledged: %v", len(ids), ids)
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2014, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	for _, s := range []string{"1388631845678", "2014-01-02T03:04:05.678Z", "2014-01-02 03:04:05.678 UTC"} {
		if got, err := pubsublogs.ParseTime(s); err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	// Outside features.TimeRange, and not a time at all: the reader falls
	// back to the publish time.
	for _, s := range []string{"9223372036854775807", "-9223372036854775808", "0001-01-01T00:00:00Z", "soon", ""} {
		if got, err := pubsublogs.ParseTime(s); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", s, got)
		}
	}
}
