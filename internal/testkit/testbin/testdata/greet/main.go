// Command greet is the program testbin's test builds: it prints its arguments after "hello".
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() { fmt.Println("hello", strings.Join(os.Args[1:], " ")) }
