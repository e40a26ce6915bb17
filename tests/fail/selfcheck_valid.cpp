#include <tensorlogic/tensorlogic.hpp>
int main() {}
