package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// checkPlaceholders verifies the placeholders of a BINARY_EVENT or BINARY_ACK payload against
// the announced attachment count, before any attachment is buffered: every placeholder
// ({"_placeholder":true,"num":N}, found as socket.io-parser finds them) must have an integer
// num in [0, attachments), and every attachment must be referenced, so that no attachment is
// buffered for nothing and no placeholder points nowhere.
func checkPlaceholders(data json.RawMessage, attachments int) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPacket, err)
	}
	seen := make([]bool, attachments)
	if err := walkPlaceholders(v, seen); err != nil {
		return err
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("%w: attachment %d of %d has no placeholder", ErrInvalidPacket, i, attachments)
		}
	}
	return nil
}

func walkPlaceholders(v any, seen []bool) error {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if err := walkPlaceholders(e, seen); err != nil {
				return err
			}
		}
	case map[string]any:
		if x["_placeholder"] == true {
			return markPlaceholder(x["num"], seen)
		}
		for _, e := range x {
			if err := walkPlaceholders(e, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func markPlaceholder(num any, seen []bool) error {
	n, ok := num.(json.Number)
	if !ok {
		return fmt.Errorf("%w: placeholder without a numeric num", ErrInvalidPacket)
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i >= int64(len(seen)) {
		return fmt.Errorf("%w: placeholder num %s out of range for %d attachments", ErrInvalidPacket, n, len(seen))
	}
	seen[i] = true
	return nil
}
