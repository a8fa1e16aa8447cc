// Package pubsublogs carries ProblemLogs over Cloud Pub/Sub: one JSON
// object per message (the JSON-lines format), with the attempt's time_done
// and an id in the message's attributes. Publish writes them; Read brings
// them into a streaming Beam pipeline as transforms.Message, each at the
// event time of its time_done attribute, for transforms.ParseMessages.
//
// Read has two implementations behind one output:
//
//   - Pulled (the default; prism and the direct runner): a splittable DoFn
//     that pulls with the unary Pull RPC of cloud.google.com/go/pubsub/v2.
//     It acknowledges a batch only in the call after the one that output
//     it: a checkpointed call's residual carries the ack ids, and the
//     runner runs a residual only once the bundle that made it has been
//     committed. That gives at-least-once delivery without bundle
//     finalization (which Beam Go v2.77.0 runs only for a plan's first
//     bundle); redeliveries are removed downstream by id (live.Record).
//     The watermark is the latest time_done seen less MaxDelay, and the
//     latest itself once nothing has arrived for MaxDelay.
//   - Native (Dataflow): the runner's own Pub/Sub source
//     (beam:transform:pubsub_read:v1, the payload Beam's pubsubio sends),
//     which de-duplicates by the id attribute and takes the watermark from
//     the time_done attribute: exactly-once.
package pubsublogs

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/protox"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// The attributes a ProblemLog's message carries.
const (
	// TimeAttribute holds the attempt's time_done, RFC 3339 (or
	// milliseconds since the epoch, as Dataflow also reads it).
	TimeAttribute = "time_done"
	// IDAttribute holds the attempt's id: a redelivery, or a message
	// published again, has the same one.
	IDAttribute = "id"
)

// ReadOptions configures Read.
type ReadOptions struct {
	// Project and Subscription name the subscription to read
	// ("projects/P/subscriptions/S" is built from them).
	Project, Subscription string
	// Native reads with the runner's own Pub/Sub source, which only
	// Dataflow has.
	Native bool

	// The rest apply to the pulled read.

	// Readers is how many splittable DoFn elements pull in parallel
	// (default 1).
	Readers int
	// MaxDelay is how much earlier than the latest time_done seen an
	// attempt may still arrive before it is late (default 1 minute).
	MaxDelay time.Duration
	// StopAfter stops each reader once it has read this many messages
	// (0: never): a bounded run, for tests and benchmarks.
	StopAfter int64
	// IdleStop stops a reader that has read something and then nothing for
	// this long (0: never).
	IdleStop time.Duration
}

// Read reads the subscription's messages as transforms.Message, each at the
// event time of its time_done attribute (its publish time where the
// attribute is missing or unreadable, counted as
// pubsub_time_from_publish).
func Read(s beam.Scope, o ReadOptions) beam.PCollection {
	s = s.Scope("ReadPubSub")
	sub := SubscriptionName(o.Project, o.Subscription)
	if o.Native {
		payload := &pipepb.PubSubReadPayload{Subscription: sub, IdAttribute: IDAttribute,
			TimestampAttribute: TimeAttribute, WithAttributes: true}
		raw := beam.External(s, "beam:transform:pubsub_read:v1", protox.MustEncode(payload), nil,
			[]beam.FullType{typex.New(reflectx.ByteSlice)}, false)
		return beam.ParDo(s, decodeNative, raw[0])
	}
	readers := make([]int, max(o.Readers, 1))
	for i := range readers {
		readers[i] = i
	}
	fn := &pullFn{Subscription: sub, MaxDelay: o.MaxDelay, StopAfter: o.StopAfter, IdleStop: o.IdleStop}
	if fn.MaxDelay <= 0 {
		fn.MaxDelay = time.Minute
	}
	return beam.ParDo(s, fn, beam.CreateList(s, readers))
}

// SubscriptionName is the full name of a subscription; a name that is
// already full is kept.
func SubscriptionName(project, sub string) string {
	if strings.HasPrefix(sub, "projects/") {
		return sub
	}
	return "projects/" + project + "/subscriptions/" + sub
}

// TopicName is the full name of a topic; a name that is already full is
// kept.
func TopicName(project, topic string) string {
	if strings.HasPrefix(topic, "projects/") {
		return topic
	}
	return "projects/" + project + "/topics/" + topic
}

// ParseTime reads a time_done attribute: RFC 3339 (or BigQuery's formats,
// as problemlogs.ParseTime), or milliseconds since the epoch.
func ParseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		if !features.TimeInRange(t) {
			return time.Time{}, fmt.Errorf("time %d ms since 1970 is outside %s", ms, features.TimeRange)
		}
		return t, nil
	}
	return problemlogs.ParseTime(s)
}

var (
	timeFromPublish = beam.NewCounter("kmtrain", "pubsub_time_from_publish")
	pulled          = beam.NewCounter("kmtrain", "pubsub_messages")
	ackFailures     = beam.NewCounter("kmtrain", "pubsub_ack_failures")
	// behindWatermark counts messages whose time was already behind the
	// reader's watermark when they arrived: late data, which windows past
	// their allowed lateness leave out.
	behindWatermark = beam.NewCounter("kmtrain", "messages_behind_watermark")
)

// message turns a pulled or natively read message into a Message and its
// event time.
func message(ctx context.Context, m *pubsubpb.PubsubMessage) (time.Time, transforms.Message) {
	id := m.Attributes[IDAttribute]
	if id == "" {
		id = m.MessageId
	}
	t, err := ParseTime(m.Attributes[TimeAttribute])
	if err != nil {
		timeFromPublish.Inc(ctx, 1)
		t = m.PublishTime.AsTime()
	}
	return t, transforms.Message{ID: id, Data: m.Data, Attributes: m.Attributes}
}

func decodeNative(ctx context.Context, raw []byte, emit func(transforms.Message)) error {
	var m pubsubpb.PubsubMessage
	if err := proto.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("a Pub/Sub message from the runner does not decode: %v", err)
	}
	_, msg := message(ctx, &m)
	emit(msg) // the runner's source already put it at its time_done
	return nil
}

// Restriction is a pulled reader's state between calls: what the next call
// must acknowledge, and where its watermark stands.
type Restriction struct {
	// Acks are the ack ids of the messages the previous call output.
	Acks []string
	// Watermark, Latest and LastMessage are milliseconds since the epoch:
	// the reader's watermark, the latest time_done read, and when (wall
	// clock) a message last arrived.
	Watermark, Latest, LastMessage int64
	// Read counts the messages read so far.
	Read int64
	// Stop ends the reader once Acks are acknowledged.
	Stop bool
	// Done marks a restriction that has been processed.
	Done bool
}

// tracker tracks a Restriction: a claim is a pulled batch's ack ids, added
// to the residual a checkpoint leaves.
type tracker struct {
	rest, next Restriction
	done       bool
}

func newTracker(r Restriction) *tracker {
	return &tracker{rest: r, next: Restriction{Watermark: r.Watermark, Latest: r.Latest,
		LastMessage: r.LastMessage, Read: r.Read, Stop: r.Stop}, done: r.Done}
}

func (t *tracker) TryClaim(pos any) bool {
	if t.done {
		return false
	}
	t.next.Acks = append(t.next.Acks, pos.([]string)...)
	return true
}

func (t *tracker) GetError() error { return nil }

// TrySplit splits only at a checkpoint (fraction 0): the primary is done,
// the residual carries the ack ids and the watermark.
func (t *tracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if t.done || fraction > 0 {
		return t.rest, nil, nil
	}
	t.done = true
	p := t.rest
	p.Done = true
	return p, t.next, nil
}

func (t *tracker) GetProgress() (done, remaining float64) { return float64(len(t.next.Acks)), 1 }
func (t *tracker) IsDone() bool                           { return t.done }
func (t *tracker) GetRestriction() any                    { return t.rest }
func (t *tracker) IsBounded() bool                        { return false }

// finish ends the restriction: the reader stops.
func (t *tracker) finish() { t.done = true }

// pullFn is the pulled read: each element is one reader.
type pullFn struct {
	Subscription string
	MaxDelay     time.Duration
	StopAfter    int64
	IdleStop     time.Duration
	// CallBudget bounds one call's pulling before it checkpoints (default
	// 500ms), so that output is committed, and acknowledged, steadily.
	CallBudget time.Duration

	client *pubsub.Client
}

func (fn *pullFn) Setup(ctx context.Context) error {
	project := "unused" // the subscription's name is full
	if parts := strings.Split(fn.Subscription, "/"); len(parts) == 4 {
		project = parts[1]
	}
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		return fmt.Errorf("pub/sub client for %s: %v", fn.Subscription, err)
	}
	fn.client = c
	return nil
}

func (fn *pullFn) Teardown() {
	if fn.client != nil {
		fn.client.Close()
	}
}

func (fn *pullFn) CreateInitialRestriction(int) Restriction { return Restriction{} }

func (fn *pullFn) SplitRestriction(_ int, r Restriction) []Restriction { return []Restriction{r} }

func (fn *pullFn) RestrictionSize(int, Restriction) float64 { return 1 }

func (fn *pullFn) CreateTracker(r Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(newTracker(r))
}

func (fn *pullFn) CreateWatermarkEstimator() *sdf.ManualWatermarkEstimator {
	return &sdf.ManualWatermarkEstimator{State: mtime.MinTimestamp.ToTime()}
}

func (fn *pullFn) ProcessElement(ctx context.Context, we *sdf.ManualWatermarkEstimator, rt *sdf.LockRTracker, _ int, emit func(beam.EventTime, transforms.Message)) (sdf.ProcessContinuation, error) {
	t := rt.Rt.(*tracker)
	rest := t.rest
	if rest.Watermark != 0 {
		we.UpdateWatermark(time.UnixMilli(rest.Watermark))
	}
	fn.ack(ctx, rest.Acks)
	if rest.Stop || rest.Done {
		t.finish()
		return sdf.StopProcessing(), nil
	}
	budget := fn.CallBudget
	if budget <= 0 {
		budget = 500 * time.Millisecond
	}
	deadline := time.Now().Add(budget)
	next := &t.next
	got := 0
	for time.Now().Before(deadline) && !next.Stop {
		pctx, cancel := context.WithTimeout(ctx, budget)
		resp, err := fn.client.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: fn.Subscription, MaxMessages: 1000})
		cancel()
		if err != nil {
			switch status.Code(err) {
			case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled, codes.ResourceExhausted, codes.Aborted, codes.Internal:
				log.Warnf(ctx, "pulling %s: %v (retrying)", fn.Subscription, err)
			default:
				return nil, fmt.Errorf("pulling %s: %v", fn.Subscription, err)
			}
			break
		}
		if len(resp.ReceivedMessages) == 0 {
			break
		}
		ids := make([]string, len(resp.ReceivedMessages))
		for i, rm := range resp.ReceivedMessages {
			ids[i] = rm.AckId
		}
		if !rt.TryClaim(ids) {
			return sdf.StopProcessing(), nil // not acknowledged: redelivered
		}
		behind := 0
		for _, rm := range resp.ReceivedMessages {
			et, m := message(ctx, rm.Message)
			emit(mtime.FromTime(et), m)
			if next.Watermark != 0 && et.UnixMilli() < next.Watermark {
				behind++
			}
			next.Latest = max(next.Latest, et.UnixMilli())
		}
		behindWatermark.Inc(ctx, int64(behind))
		got += len(resp.ReceivedMessages)
		next.Read += int64(len(resp.ReceivedMessages))
		if fn.StopAfter > 0 && next.Read >= fn.StopAfter {
			next.Stop = true
		}
	}
	pulled.Inc(ctx, int64(got))
	now := time.Now().UnixMilli()
	if got > 0 {
		next.LastMessage = now
	}
	wm := next.Watermark
	if next.Latest != 0 {
		wm = max(wm, next.Latest-fn.MaxDelay.Milliseconds())
		if next.LastMessage != 0 && now-next.LastMessage >= fn.MaxDelay.Milliseconds() {
			wm = max(wm, next.Latest)
		}
	}
	if fn.IdleStop > 0 && next.Read > 0 && now-next.LastMessage >= fn.IdleStop.Milliseconds() {
		next.Stop = true
	}
	next.Watermark = wm
	if wm != 0 {
		we.UpdateWatermark(time.UnixMilli(wm))
	}
	if got > 0 || next.Stop {
		return sdf.ResumeProcessingIn(0), nil
	}
	return sdf.ResumeProcessingIn(100 * time.Millisecond), nil
}

// ack acknowledges ids, in requests of at most 2,500. A failure is counted
// and logged, not fatal: the messages come again and are de-duplicated.
func (fn *pullFn) ack(ctx context.Context, ids []string) {
	for len(ids) > 0 {
		n := min(len(ids), 2500)
		if err := fn.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: fn.Subscription, AckIds: ids[:n]}); err != nil {
			ackFailures.Inc(ctx, int64(n))
			log.Warnf(ctx, "acknowledging %d messages of %s: %v (they will be redelivered)", n, fn.Subscription, err)
		}
		ids = ids[n:]
	}
}

func init() {
	register.DoFn5x2[context.Context, *sdf.ManualWatermarkEstimator, *sdf.LockRTracker, int, func(beam.EventTime, transforms.Message), sdf.ProcessContinuation, error](&pullFn{})
	register.Emitter2[beam.EventTime, transforms.Message]()
	register.Function3x1(decodeNative)
	register.Emitter1[transforms.Message]()
	beam.RegisterType(reflect.TypeOf((*Restriction)(nil)).Elem())
}
