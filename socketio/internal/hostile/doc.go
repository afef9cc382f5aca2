// Package hostile holds the memory test of a realtimed node under hostile connections: the
// kinds of issue 15 (clients that never authenticate and send binary attachments or huge frame
// headers, frames and polling bodies that stall before or after authentication) against one
// node run as its own process, whose RSS must stay under a stated bound while legitimate
// clients connect and receive events. The package has no code: see hostile_test.go.
package hostile
