package dbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// The PostgreSQL image of the container path.
const (
	// EnvPGImage names the image testcontainers starts when no
	// PASSTHRU_TEST_PG_DSN is set.
	EnvPGImage = "PASSTHRU_TEST_PG_IMAGE"
	// DefaultPGImage is the public image, matching the PostgreSQL major
	// version CI runs.
	DefaultPGImage = "postgres:15-alpine"
	// LocalPGImage is the image `make images` builds without a registry.
	LocalPGImage = "passthru-local/postgres:15"
)

// EnvRyukDisabled is testcontainers-go's switch for its reaper (ryuk), a
// container it would otherwise pull and start to remove the containers of
// a test process after it ends. This package removes its containers itself
// (see StartContainer) and needs the reaper off: it sets the variable to
// "true" when it is unset and refuses any other value. testcontainers-go
// v0.45 reads it once per process, on first use, and takes only the exact
// string "true" as true ("1" leaves the reaper on).
const EnvRyukDisabled = "TESTCONTAINERS_RYUK_DISABLED"

// Errors of the container path, for errors.Is.
var (
	// ErrNoDocker: no Docker engine answers.
	ErrNoDocker = errors.New("no Docker engine is reachable")
	// ErrImageMissing: the engine answers but the PostgreSQL image is not
	// there (and a pull, when one was tried, failed).
	ErrImageMissing = errors.New("PostgreSQL image not present")
)

// ImageMissingError says which image is missing and how to get one. Its
// message is what a developer reads when a run asks for PostgreSQL and the
// machine cannot pull the image.
type ImageMissingError struct {
	Image   string
	PullErr error // nil when no pull was tried
}

func (e *ImageMissingError) Error() string {
	msg := "Docker is reachable but the PostgreSQL image " + e.Image + " is not present locally"
	if e.PullErr != nil {
		msg += " and could not be pulled (" + e.PullErr.Error() + ")"
	}
	msg += "; build the local one with `make images`, then set " + EnvPGImage + "=" + LocalPGImage
	if e.Image != LocalPGImage {
		msg += " (or `docker pull " + e.Image + "` where a registry is reachable)"
	}
	return msg
}

// Is makes errors.Is(err, ErrImageMissing) hold.
func (e *ImageMissingError) Is(target error) bool { return target == ErrImageMissing }

func (e *ImageMissingError) Unwrap() error { return e.PullErr }

// pgImage is the image to start: PASSTHRU_TEST_PG_IMAGE or the default.
func pgImage(lookup func(string) (string, bool)) string {
	if img, _ := lookup(EnvPGImage); img != "" {
		return img
	}
	return DefaultPGImage
}

// disableReaper sets TESTCONTAINERS_RYUK_DISABLED=true in this process when
// it is unset. testcontainers-go has no per-provider or per-request option
// for its reaper (ContainerRequest.SkipReaper is deprecated and ignored):
// only this variable or ~/.testcontainers.properties, read once per process.
// Writing the user's home file would outlive the test run, so the variable
// it is; dbtest is a test-only package, and the value only ever goes from
// unset to "true".
func disableReaper() error {
	v, set := os.LookupEnv(EnvRyukDisabled)
	switch {
	case !set:
		if err := os.Setenv(EnvRyukDisabled, "true"); err != nil {
			return fmt.Errorf("set %s: %w", EnvRyukDisabled, err)
		}
		return nil
	case v == "true":
		return nil
	default:
		return fmt.Errorf("%s=%q: dbtest removes its containers itself and needs testcontainers' reaper off; unset it or set it to \"true\"", EnvRyukDisabled, v)
	}
}

// newProvider returns a testcontainers Docker provider with the reaper off,
// or ErrNoDocker. testcontainers panics on some broken Docker setups; a
// panic counts as no engine.
func newProvider(logger tclog.Logger) (p *testcontainers.DockerProvider, err error) {
	if err := disableReaper(); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %v", ErrNoDocker, r)
		}
	}()
	p, err = testcontainers.NewDockerProvider(testcontainers.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	if !p.Config().RyukDisabled {
		_ = p.Close()
		return nil, fmt.Errorf("testcontainers' reaper is on although %s=true: its configuration was read before dbtest set the variable; export %s=true", EnvRyukDisabled, EnvRyukDisabled)
	}
	return p, nil
}

// probeTimeout bounds asking the engine whether it answers and whether an
// image is there; pullTimeout bounds one pull where a registry answers.
const (
	probeTimeout = 5 * time.Second
	pullTimeout  = 5 * time.Minute
)

// checkImage returns nil when image is present on the engine, trying one
// pull first when pull is set (no retries: without a registry the daemon
// fails at once, and testcontainers' own pull would retry for minutes),
// and an *ImageMissingError otherwise.
func checkImage(ctx context.Context, p *testcontainers.DockerProvider, image string, pull bool) error {
	present := func() (bool, error) {
		ictx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		_, err := p.Client().ImageInspect(ictx, image)
		switch {
		case err == nil:
			return true, nil
		case cerrdefs.IsNotFound(err):
			return false, nil
		default:
			return false, fmt.Errorf("inspect image %s: %w", image, err)
		}
	}
	ok, err := present()
	if err != nil || ok {
		return err
	}
	if !pull {
		return &ImageMissingError{Image: image}
	}
	pctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	resp, err := p.Client().ImagePull(pctx, image, client.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(pctx)
	}
	if err != nil {
		return &ImageMissingError{Image: image, PullErr: err}
	}
	if ok, err := present(); err != nil || !ok {
		return &ImageMissingError{Image: image, PullErr: errors.Join(errors.New("pulled, yet not present"), err)}
	}
	return nil
}

// engine is what backend selection asks about Docker; a fake in tests.
type engine interface {
	// reachable returns nil when a Docker engine answers, ErrNoDocker (or
	// why the container path cannot be used) otherwise.
	reachable() error
	// image returns nil when image is present, trying one pull first when
	// pull is set, and an *ImageMissingError otherwise.
	image(image string, pull bool) error
}

// dockerEngine caches its answers for the process: every test asks, and
// each answer costs a round trip to the engine (or a probe timeout).
type dockerEngine struct {
	reachOnce sync.Once
	reachErr  error

	mu     sync.Mutex
	images map[imageQuery]error
}

type imageQuery struct {
	image string
	pull  bool
}

// defaultEngine is per process on purpose: whether an engine answers and
// an image is there are properties of the machine, asked by every test.
var defaultEngine = &dockerEngine{}

func (e *dockerEngine) reachable() error {
	e.reachOnce.Do(func() {
		p, err := newProvider(tclog.NewNoopLogger())
		if err != nil {
			e.reachErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		if err := p.Health(ctx); err != nil { // Health also closes the provider
			e.reachErr = fmt.Errorf("%w: %v", ErrNoDocker, err)
		}
	})
	return e.reachErr
}

func (e *dockerEngine) image(image string, pull bool) error {
	q := imageQuery{image: image, pull: pull}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err, ok := e.images[q]; ok {
		return err
	}
	if err := e.reachable(); err != nil {
		return err
	}
	p, err := newProvider(tclog.NewNoopLogger())
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	err = checkImage(context.Background(), p, image, pull)
	if e.images == nil {
		e.images = map[imageQuery]error{}
	}
	e.images[q] = err
	if err == nil {
		// Present now means present for the lookup without a pull too.
		e.images[imageQuery{image: image}] = nil
	}
	return err
}
