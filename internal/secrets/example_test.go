package secrets_test

import (
	"fmt"
	"log"
	"os"

	"github.com/flagops/flagops/internal/secrets"
)

// Example seals a value for its place, persists the record's bytes, rotates
// the master key, moves the record to the new key and opens it again.
func Example() {
	dataDir, err := os.MkdirTemp("", "flagops-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dataDir)

	// Created on first use as <dataDir>/master.key, mode 0600.
	kr, err := secrets.OpenKeyFile(dataDir)
	if err != nil {
		log.Fatal(err)
	}
	place := secrets.AAD{Workspace: "default", Scope: "project/shop@prod", Key: "DATABASE_URL", Version: 1}
	value := []byte("postgres://shop:s3cret@db/shop")

	sealed, err := kr.Seal(place, value)
	if err != nil {
		log.Fatal(err)
	}
	row, _ := sealed.Marshal() // what the store persists
	fmt.Println(len(kr.Fingerprint(place.Workspace, place.Scope, place.Key, value)) == len("hmac-sha256:")+16)

	oldID := kr.ActiveID()
	if _, err := kr.Rotate(); err != nil {
		log.Fatal(err)
	}
	stored, err := secrets.Unmarshal(row)
	if err != nil {
		log.Fatal(err)
	}
	moved, changed, err := kr.Rewrap(place, stored)
	if err != nil {
		log.Fatal(err)
	}
	if err := kr.Retire(oldID); err != nil { // only once no row uses oldID
		log.Fatal(err)
	}
	plain, err := kr.Open(place, moved)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(changed, string(plain))

	// The same record at another version does not open.
	_, err = kr.Open(secrets.AAD{Workspace: "default", Scope: "project/shop@prod", Key: "DATABASE_URL", Version: 2}, moved)
	fmt.Println(err)
	// Output:
	// true
	// true postgres://shop:s3cret@db/shop
	// open secret: secret does not decrypt: wrong master key, tampered or moved ciphertext
}
