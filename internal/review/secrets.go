package review

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// secretBytes is the entropy of a generated secret: 256 bits.
const secretBytes = 32

// ensureSecrets generates every secret key the stack lacks and stores it as
// secret config (encrypted by the stack's secrets provider). Keys already
// set are never touched: regenerating the database password of a running
// stack would lock the API out of its own data.
func ensureSecrets(ctx context.Context, s auto.Stack, keys []string) (generated []string, err error) {
	cfg, err := s.GetAllConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("read config of stack %s: %w", s.Name(), err)
	}
	for _, key := range keys {
		if _, ok := cfg[key]; ok {
			continue
		}
		value, err := newSecret()
		if err != nil {
			return generated, fmt.Errorf("generate %s for stack %s: %w", key, s.Name(), err)
		}
		if err := s.SetConfig(ctx, key, auto.ConfigValue{Value: value, Secret: true}); err != nil {
			return generated, fmt.Errorf("store secret %s in stack %s: %w", key, s.Name(), err)
		}
		generated = append(generated, key)
	}
	return generated, nil
}

// newSecret returns 32 random bytes, URL-safe base64 without padding, so the
// value can go into a connection string or an HTTP header unescaped.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
