package triggers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/realtimed/realtimed/buildinfo"
)

// Rules is a set of rule files and where they come from.
type Rules struct {
	// Origin says where the files come from, for people: "built-in set (realtimed v1.2.3)" or
	// "folder /srv/rules".
	Origin string
	Files  []File
}

// Configured returns the rules realtimed is configured with: the files of dir
// (REALTIME_TRIGGERS_DIR), or the built-in set when dir is empty.
func Configured(dir string) (Rules, error) {
	if dir == "" {
		return Builtin()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Rules{}, fmt.Errorf("rule folder %s: %w", dir, err)
	}
	return LoadRules(os.DirFS(abs), "folder "+abs)
}

// Builtin returns the rule files embedded in the binary.
func Builtin() (Rules, error) {
	return LoadRules(embedded, "built-in set (realtimed "+buildinfo.Get().Short()+")")
}

// LoadRules reads the *.sql files of src (see Load); origin says where they come from. A
// source without rule files is an error.
func LoadRules(src fs.FS, origin string) (Rules, error) {
	files, err := Load(src)
	if err != nil {
		return Rules{}, fmt.Errorf("rules from %s: %w", origin, err)
	}
	if len(files) == 0 {
		return Rules{}, fmt.Errorf("rules from %s: no rule files (*.sql) found", origin)
	}
	return Rules{Origin: origin, Files: files}, nil
}

// Hash returns the hex SHA-256 of the file's text, as realtime.rule_files records it.
func (f File) Hash() string {
	sum := sha256.Sum256([]byte(f.SQL))
	return hex.EncodeToString(sum[:])
}
