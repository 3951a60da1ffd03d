// Package hcs is the utility VM driver of Windows hosts: a Windows or Linux
// utility VM as an HCS compute system, built from the documents here
// (pure functions, golden-tested on every platform), and the hvsocket
// listener that winctr's guest agent in a Linux one connects to.
package hcs
