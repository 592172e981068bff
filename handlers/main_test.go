package handlers_test

import (
	"os"
	"testing"

	"policykit/handlers/browsertest"
)

// TestMain stops the Chromium the browser tests share once all tests have run.
func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }
