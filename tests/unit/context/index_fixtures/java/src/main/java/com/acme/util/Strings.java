package com.acme.util;

public class Strings {
    /** The string s, n times. */
    public static String repeat(String s, int n) {
        return s.repeat(n);
    }
}
