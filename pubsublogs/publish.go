package pubsublogs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// Message returns the body and attributes of l's message: its JSON object,
// its time_done (RFC 3339) and id.
func Message(l features.ProblemLog, id string) *pubsub.Message {
	return &pubsub.Message{
		Data: problemlogs.AppendJSON(nil, l),
		Attributes: map[string]string{
			TimeAttribute: l.TimeDone.UTC().Format(time.RFC3339Nano),
			IDAttribute:   id,
		},
	}
}

// PublishOptions configures Publish.
type PublishOptions struct {
	// IDPrefix starts each message's id, followed by the log's index: the
	// same logs published again under the same prefix are recognised as
	// redeliveries.
	IDPrefix string
	// Rate is how many logs a second to publish (0: as fast as possible).
	Rate float64
	// Live sets each log's TimeDone, in logs too, to the time it is
	// published, as a stream of attempts happening now would carry it.
	Live bool
}

// Publish publishes logs to topic, in order, and waits until all are
// accepted. It returns how many were published before an error.
func Publish(ctx context.Context, c *pubsub.Client, topic string, logs []features.ProblemLog, o PublishOptions) (int, error) {
	p := c.Publisher(topic)
	defer p.Stop()
	p.PublishSettings.CountThreshold = 1000
	p.PublishSettings.DelayThreshold = 5 * time.Millisecond
	p.PublishSettings.FlowControlSettings.MaxOutstandingMessages = 50000
	results := make([]*pubsub.PublishResult, 0, 1024)
	done := 0
	wait := func() error {
		for _, r := range results {
			if _, err := r.Get(ctx); err != nil {
				return fmt.Errorf("publishing to %s: %v", topic, err)
			}
			done++
		}
		results = results[:0]
		return nil
	}
	start := time.Now()
	for i, l := range logs {
		if o.Rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / o.Rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		if o.Live {
			l.TimeDone = time.Now().UTC()
			logs[i].TimeDone = l.TimeDone
		}
		results = append(results, p.Publish(ctx, Message(l, o.IDPrefix+strconv.Itoa(i))))
		if len(results) == cap(results) {
			if err := wait(); err != nil {
				return done, err
			}
		}
	}
	return done, wait()
}

// EnsureSubscription creates topic and a subscription sub to it where they
// do not exist (as for a local try on the emulator), with a 60-second ack
// deadline. Names may be short (in c's project) or full.
func EnsureSubscription(ctx context.Context, c *pubsub.Client, topic, sub string) error {
	topic, sub = TopicName(c.Project(), topic), SubscriptionName(c.Project(), sub)
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("creating topic %s: %v", topic, err)
	}
	_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 60})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("creating subscription %s: %v", sub, err)
	}
	return nil
}
