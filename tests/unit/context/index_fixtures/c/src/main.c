#include <stdio.h>
#include "mathlib.h"

int main(void) {
    printf("%d\n", gcd(12, 18));
    return 0;
}
