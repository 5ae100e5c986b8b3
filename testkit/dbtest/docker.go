package dbtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// Docker state is per process on purpose: probing the engine costs time and
// one PostgreSQL container serves every test of the process (each test gets
// its own database in it). testcontainers' reaper removes the container when
// the process exits, so nothing has to stop it explicitly.
var (
	dockerOnce sync.Once
	dockerOK   bool

	containerOnce sync.Once
	containerURL  string
	containerErr  error
)

// containerImage matches the PostgreSQL major version CI runs.
const containerImage = "postgres:15-alpine"

// dockerReachable reports whether testcontainers can reach a Docker engine.
func dockerReachable() bool {
	dockerOnce.Do(func() {
		provider, err := testcontainers.NewDockerProvider()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dockerOK = provider.Health(ctx) == nil // Health also closes the provider
	})
	return dockerOK
}

// containerDSN starts the shared PostgreSQL container on first use.
func containerDSN() (string, error) {
	containerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		ctr, err := tcpostgres.Run(ctx, containerImage,
			tcpostgres.WithDatabase("passthru"),
			tcpostgres.WithUsername("passthru"),
			tcpostgres.WithPassword("passthru"),
			tcpostgres.BasicWaitStrategies(),
		)
		if err != nil {
			// A container created but not ready would otherwise linger
			// until the reaper notices the process is gone.
			if ctr != nil {
				_ = ctr.Terminate(context.Background())
			}
			containerErr = fmt.Errorf("start PostgreSQL container %s: %w", containerImage, err)
			return
		}
		containerURL, containerErr = ctr.ConnectionString(ctx, "sslmode=disable")
	})
	return containerURL, containerErr
}
