#include <iostream>
#include "geo/shapes.hpp"

int main() {
    std::cout << geo::circle_area(2.0) << "\n";
    return 0;
}
