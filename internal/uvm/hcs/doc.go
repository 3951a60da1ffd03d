// Package hcs is the utility VM driver of Windows hosts: a Windows or Linux
// utility VM as an HCS compute system, and the hvsocket transport to
// winctr's guest agent in a Linux one.
package hcs
