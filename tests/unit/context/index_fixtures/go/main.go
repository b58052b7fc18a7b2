package main

import (
	"fmt"

	"example.com/demo/mathx"
)

func main() {
	fmt.Println(mathx.Add(1, 2))
}
