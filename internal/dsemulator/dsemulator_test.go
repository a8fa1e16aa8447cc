package dsemulator_test

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/datastore"

	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
)

func TestMain(m *testing.M) { dsemulator.Main(m) }

type thing struct{ N int }

// TestStartResetStop writes through the real client, empties the emulator
// and checks that Stop leaves no process behind.
func TestStartResetStop(t *testing.T) {
	e := dsemulator.Start(t)
	project := e.Use(t)
	ctx := context.Background()
	c, err := datastore.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := datastore.NameKey("Thing", "a", nil)
	if _, err := c.Put(ctx, k, &thing{N: 7}); err != nil {
		t.Fatal(err)
	}
	var got thing
	if err := c.Get(ctx, k, &got); err != nil || got.N != 7 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	e.Reset(t)
	if err := c.Get(ctx, k, &got); !errors.Is(err, datastore.ErrNoSuchEntity) {
		t.Fatalf("after Reset, Get = %v, want ErrNoSuchEntity", err)
	}

	pid := dsemulator.Pid(e)
	e.Stop()
	e.Stop() // idempotent
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d still exists after Stop", pid)
	}
	if _, err := http.Get("http://" + e.Host() + "/"); err == nil {
		t.Errorf("the emulator still answers after Stop")
	}
}

// TestShared checks that the shared emulator comes emptied.
func TestShared(t *testing.T) {
	for i := 0; i < 2; i++ {
		e := dsemulator.Shared(t)
		project := e.Use(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := datastore.NewClient(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Count(ctx, datastore.NewQuery("Thing"))
		if err != nil || n != 0 {
			t.Fatalf("round %d: %d entities (%v), want an empty emulator", i, n, err)
		}
		if _, err := c.Put(ctx, datastore.NameKey("Thing", "x", nil), &thing{N: i}); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}
