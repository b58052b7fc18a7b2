package com.acme;

import com.acme.util.Strings;

public class App {
    public static void main(String[] args) {
        System.out.println(Strings.repeat("ab", 3));
    }
}
