package router

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestChatIDArg(t *testing.T) {
	long := `"` + strings.Repeat("x", maxChatIDBytes+1) + `"`
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr bool
	}{
		{"uuid", []string{`{"chatId":"6f1c1a52-9d4e-4b53-9d43-3c1f7e1a0c11"}`}, "6f1c1a52-9d4e-4b53-9d43-3c1f7e1a0c11", false},
		{"integer id", []string{`{"chatId":42}`}, "42", false},
		{"extra fields ignored", []string{`{"chatId":"a","room":"user:x"}`, `"more"`}, "a", false},
		{"no argument", nil, "", true},
		{"string argument", []string{`"chat:1"`}, "", true},
		{"array argument", []string{`["a"]`}, "", true},
		{"null", []string{`null`}, "", true},
		{"missing chatId", []string{`{"room":"chat:1"}`}, "", true},
		{"null chatId", []string{`{"chatId":null}`}, "", true},
		{"empty chatId", []string{`{"chatId":""}`}, "", true},
		{"too long", []string{`{"chatId":` + long + `}`}, "", true},
		{"fractional", []string{`{"chatId":1.5}`}, "", true},
		{"boolean", []string{`{"chatId":true}`}, "", true},
		{"object", []string{`{"chatId":{"id":"a"}}`}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := make([]json.RawMessage, len(tt.args))
			for i, a := range tt.args {
				args[i] = json.RawMessage(a)
			}
			got, err := chatIDArg(args)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("chatIDArg(%v) = %q, %v; want %q (error: %v)", tt.args, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
