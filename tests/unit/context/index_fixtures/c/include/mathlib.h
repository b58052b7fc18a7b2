#ifndef MATHLIB_H
#define MATHLIB_H

/* Greatest common divisor. */
int gcd(int a, int b);

#endif
