package auth

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestDummyHashCost(t *testing.T) {
	cost, err := bcrypt.Cost([]byte(dummyHash))
	if err != nil || cost != Cost {
		t.Fatalf("dummy hash cost %d (%v), want %d", cost, err, Cost)
	}
}
